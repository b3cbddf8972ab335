"""An aioquic peer for flow-quic's interoperability tests.

server --cert C --key K --alpn A
    Listens on 127.0.0.1, an ephemeral port, and prints "PORT <n>" once
    listening. Each bidirectional stream is echoed back; the peer's FIN is
    answered with a FIN after the echo ("FIN <stream>" printed). A stream
    whose data starts with b"please-reset" is reset with code 7 instead. A
    reset from the peer is printed as "RESET <stream> <code>".

client --port P --ca CA --alpn A
    Connects to 127.0.0.1:P and runs three streams: an echo of 100,000
    bytes with a FIN ("ECHO <n> FIN"), a stream it resets with code 9 after
    one byte ("RESET-SENT"), and b"please-reset" ("RESET-SEEN <code>" when
    the server resets it). Exits 0 when all went as expected.
"""

import argparse
import asyncio
import sys

from aioquic.asyncio import connect, serve
from aioquic.asyncio.protocol import QuicConnectionProtocol
from aioquic.quic.configuration import QuicConfiguration
from aioquic.quic.events import StreamDataReceived, StreamReset


def say(line):
    print(line, flush=True)


class EchoServer(QuicConnectionProtocol):
    def quic_event_received(self, event):
        if isinstance(event, StreamDataReceived):
            if event.data.startswith(b"please-reset"):
                self._quic.reset_stream(event.stream_id, 7)
            elif event.data or event.end_stream:
                self._quic.send_stream_data(event.stream_id, event.data, end_stream=event.end_stream)
                if event.end_stream:
                    say(f"FIN {event.stream_id}")
            self.transmit()
        elif isinstance(event, StreamReset):
            say(f"RESET {event.stream_id} {event.error_code}")


class Client(QuicConnectionProtocol):
    def __init__(self, *args, **kwargs):
        super().__init__(*args, **kwargs)
        self.received = {}
        self.waiters = {}

    def wait(self, stream_id):
        future = asyncio.get_running_loop().create_future()
        self.waiters[stream_id] = future
        return future

    def quic_event_received(self, event):
        if isinstance(event, StreamDataReceived):
            self.received.setdefault(event.stream_id, bytearray()).extend(event.data)
            if event.end_stream and event.stream_id in self.waiters:
                self.waiters.pop(event.stream_id).set_result(("fin", bytes(self.received[event.stream_id])))
        elif isinstance(event, StreamReset) and event.stream_id in self.waiters:
            self.waiters.pop(event.stream_id).set_result(("reset", event.error_code))


async def run_server(args):
    config = QuicConfiguration(is_client=False, alpn_protocols=[args.alpn])
    config.load_cert_chain(args.cert, args.key)
    server = await serve("127.0.0.1", 0, configuration=config, create_protocol=EchoServer)
    say(f"PORT {server._transport.get_extra_info('sockname')[1]}")
    await asyncio.Event().wait()


async def run_client(args):
    config = QuicConfiguration(is_client=True, alpn_protocols=[args.alpn], server_name="localhost")
    config.load_verify_locations(args.ca)
    async with connect("127.0.0.1", args.port, configuration=config, create_protocol=Client) as client:
        quic = client._quic
        payload = bytes((i * 7 + 3) % 251 for i in range(100_000))
        echo = quic.get_next_available_stream_id()
        done = client.wait(echo)
        quic.send_stream_data(echo, payload, end_stream=True)
        client.transmit()
        kind, data = await asyncio.wait_for(done, 20)
        if kind != "fin" or data != payload:
            say(f"BAD echo: {kind} {len(data) if kind == 'fin' else data}")
            return 1
        say(f"ECHO {len(data)} FIN")

        reset = quic.get_next_available_stream_id()
        quic.send_stream_data(reset, b"x")
        client.transmit()
        await asyncio.sleep(0)
        quic.reset_stream(reset, 9)
        client.transmit()
        say("RESET-SENT")

        asked = quic.get_next_available_stream_id()
        done = client.wait(asked)
        quic.send_stream_data(asked, b"please-reset")
        client.transmit()
        kind, code = await asyncio.wait_for(done, 20)
        if kind != "reset":
            say(f"BAD reset: {kind}")
            return 1
        say(f"RESET-SEEN {code}")
        # Wait for the server's report of our reset before closing.
        line = await asyncio.wait_for(asyncio.get_running_loop().run_in_executor(None, sys.stdin.readline), 20)
        say(f"DONE {line.strip()}")
        client.close()
    return 0


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("mode", choices=["server", "client"])
    parser.add_argument("--cert")
    parser.add_argument("--key")
    parser.add_argument("--ca")
    parser.add_argument("--port", type=int)
    parser.add_argument("--alpn", required=True)
    args = parser.parse_args()
    if args.mode == "server":
        asyncio.run(run_server(args))
        return 0
    return asyncio.run(run_client(args))


if __name__ == "__main__":
    sys.exit(main())
