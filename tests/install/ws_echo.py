"""Checks that a server just started answers a WebSocket echo on loopback.

    /usr/bin/python3 tests/install/ws_echo.py LOG PID

LOG is the server's output: the port is read from its "ws://…:PORT" or "http://…:PORT" line
(servers here start on port 0, so the kernel picks a free one). PID must stay alive meanwhile.
Sends one text and one binary message to ws://127.0.0.1:PORT/ and expects each back, byte for
byte. A reply of "unavailable" (the cluster example before it reached Redis) is retried for a
few seconds. Exits 0 on success, 1 with the reason otherwise.
"""

import asyncio
import os
import re
import sys
import time

import websockets

PORT_LINE = re.compile(r"(?:ws|http)s?://[^\s/]+:(\d+)")


def wait_for_port(log_path, pid, timeout=20.0):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            os.kill(pid, 0)
        except ProcessLookupError:
            raise SystemExit(f"ws_echo: process {pid} exited before listening")
        with open(log_path, encoding="utf-8", errors="replace") as log:
            match = PORT_LINE.search(log.read())
        if match and int(match.group(1)) != 0:
            return int(match.group(1))
        time.sleep(0.1)
    raise SystemExit(f"ws_echo: no listening line in {log_path} after {timeout} s")


async def echo(port):
    async with websockets.connect(f"ws://127.0.0.1:{port}/", open_timeout=5) as ws:
        for message in ("hibiki install check ✓", b"\x00\x01\xfe\xff binary"):
            deadline = time.monotonic() + 10
            while True:
                await ws.send(message)
                reply = await asyncio.wait_for(ws.recv(), timeout=5)
                if reply == "unavailable" and time.monotonic() < deadline:
                    await asyncio.sleep(0.2)
                    continue
                break
            if reply != message:
                raise SystemExit(f"ws_echo: sent {message!r}, got {reply!r}")


def main():
    if len(sys.argv) != 3:
        raise SystemExit("usage: ws_echo.py LOG PID")
    port = wait_for_port(sys.argv[1], int(sys.argv[2]))
    asyncio.run(echo(port))
    print(f"ws_echo: echo ok on 127.0.0.1:{port}")


if __name__ == "__main__":
    main()
