"""A WebSocket peer with the `websockets` library: the other end of
flow-util's WebSocket tests. It prints what it saw, one fact a line, for
the test to check.

    python ws_peer.py server
        Listens on 127.0.0.1 (a port the system picks), prints `port N`.
        Echoes every message (text as text, binary as binary). A text
        message `close CODE REASON` makes it close with that code and
        reason. When a connection ends it prints
        `closed code=CODE reason=REASON by=client|server`.
        Ends after two connections.

    python ws_peer.py client URL SEED SIZE
        Connects, sends a text message and SIZE random bytes (from SEED),
        checks the echoes (`echo text ok`, `echo binary ok SIZE`), then
        closes with 4000 "python is done". Connects again, sends
        `close 1001 rust going away`, and prints how the server closed:
        `closed code=CODE reason=REASON by=server`.
"""

import asyncio
import random
import sys

from websockets.asyncio.client import connect
from websockets.asyncio.server import serve
from websockets.exceptions import ConnectionClosed


def say(*words):
    print(*words, flush=True)


def describe_close(ws, peer):
    """The close frame received from the peer, and who closed first."""
    protocol = ws.protocol
    frame = protocol.close_rcvd
    code = frame.code if frame is not None else None
    reason = frame.reason if frame is not None else None
    if protocol.close_rcvd_then_sent:
        by = peer
    elif protocol.close_sent is not None:
        by = "server" if peer == "client" else "client"
    else:
        by = "nobody"
    return "closed code=%s reason=%s by=%s" % (code, reason, by)


async def run_server():
    done = asyncio.Event()
    handled = 0

    async def handler(ws):
        nonlocal handled
        try:
            async for message in ws:
                if isinstance(message, str) and message.startswith("close "):
                    _, code, reason = message.split(" ", 2)
                    await ws.close(int(code), reason)
                    break
                await ws.send(message)
        except ConnectionClosed:
            pass
        await ws.wait_closed()
        say(describe_close(ws, peer="client"))
        handled += 1
        if handled == 2:
            done.set()

    async with serve(handler, "127.0.0.1", 0, max_size=None) as server:
        port = server.sockets[0].getsockname()[1]
        say("port", port)
        await done.wait()


async def run_client(url, seed, size):
    payload = random.Random(seed).randbytes(size)
    async with connect(url, max_size=None) as ws:
        await ws.send("hello from python")
        if await ws.recv() == "hello from python":
            say("echo text ok")
        await ws.send(payload)
        echoed = await ws.recv()
        if echoed == payload:
            say("echo binary ok", len(echoed))
        else:
            say("echo binary differs", len(echoed))
        await ws.close(4000, "python is done")
    async with connect(url) as ws:
        await ws.send("close 1001 rust going away")
        try:
            async for message in ws:
                say("unexpected message", message)
        except ConnectionClosed:
            pass
        say(describe_close(ws, peer="server"))


def main():
    if sys.argv[1] == "server":
        asyncio.run(run_server())
    else:
        asyncio.run(run_client(sys.argv[2], int(sys.argv[3]), int(sys.argv[4])))


if __name__ == "__main__":
    main()
