"""Hypercorn serving a tiny ASGI app over TLS, HTTP/2 chosen with ALPN:
the peer of flow-util's HTTP/2 client test.

    python h2_server.py CERT.pem KEY.pem

Binds 127.0.0.1 on a port the system picks (the socket is made and
listening before Hypercorn takes it over, so there is no race), prints
`port N`, then serves until it is killed. `GET /` answers with the HTTP
version the request came over; `POST /echo` answers with the request body.
"""

import asyncio
import socket
import sys

from hypercorn.asyncio import serve
from hypercorn.config import Config


async def app(scope, receive, send):
    if scope["type"] == "lifespan":
        while True:
            message = await receive()
            if message["type"] == "lifespan.startup":
                await send({"type": "lifespan.startup.complete"})
            elif message["type"] == "lifespan.shutdown":
                await send({"type": "lifespan.shutdown.complete"})
                return
    body = b""
    more = True
    while more:
        message = await receive()
        body += message.get("body", b"")
        more = message.get("more_body", False)
    if scope["path"] == "/echo":
        reply = body
    else:
        reply = ("http_version=%s\n" % scope["http_version"]).encode()
    await send({
        "type": "http.response.start",
        "status": 200,
        "headers": [(b"content-type", b"application/octet-stream")],
    })
    await send({"type": "http.response.body", "body": reply})


def main():
    sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    sock.bind(("127.0.0.1", 0))
    sock.listen(128)
    config = Config()
    config.bind = ["fd://%d" % sock.fileno()]
    config.certfile = sys.argv[1]
    config.keyfile = sys.argv[2]
    config.alpn_protocols = ["h2", "http/1.1"]
    print("port", sock.getsockname()[1], flush=True)
    asyncio.run(serve(app, config))


if __name__ == "__main__":
    main()
