"""Python's standard HTTP server, serving one directory over HTTP/1.1,
plainly or over TLS (Python's ssl module): the peer of flow-util's
hyper-util client tests.

    python http_server.py DIR [CERT.pem KEY.pem]

Binds 127.0.0.1 on a port the system picks, prints `port N` once it
listens, then serves until it is killed.
"""

import functools
import http.server
import ssl
import sys


class Handler(http.server.SimpleHTTPRequestHandler):
    # Keep-alive, so that the client's pool reuses the connection.
    protocol_version = "HTTP/1.1"

    def log_message(self, format, *args):
        # stdout carries the port; the request log goes to stderr.
        sys.stderr.write("%s\n" % (format % args))


def main():
    directory = sys.argv[1]
    handler = functools.partial(Handler, directory=directory)
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    if len(sys.argv) == 4:
        context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        context.load_cert_chain(sys.argv[2], sys.argv[3])
        context.set_alpn_protocols(["http/1.1"])
        server.socket = context.wrap_socket(server.socket, server_side=True)
    # The socket listens already: a client may connect as soon as it reads this.
    print("port", server.server_address[1], flush=True)
    server.serve_forever()


if __name__ == "__main__":
    main()
