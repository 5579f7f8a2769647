"""hibiki echo and hibiki chat driven by the `websockets` library (asyncio API)."""

import asyncio
import json
import os
import unittest

import websockets

from hibiki_proc import start_server

TIMEOUT = 10.0
SIZES = [0, 1, 125, 126, 65535, 65536, 1 << 20]


def connect(url: str):
    # No size limit on our side, no compression: we want the server's behaviour only.
    return websockets.connect(url, max_size=None, compression=None,
                              open_timeout=TIMEOUT, close_timeout=TIMEOUT)


class EchoTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self) -> None:
        self.server = await start_server("echo", max_message=4 << 20)
        self.ws = await connect(self.server.ws_url + "/echo")

    async def asyncTearDown(self) -> None:
        await asyncio.wait_for(self.ws.close(), TIMEOUT)
        await self.server.stop()

    async def recv(self):
        return await asyncio.wait_for(self.ws.recv(), TIMEOUT)

    async def test_text_echo_sizes(self) -> None:
        for size in SIZES:
            with self.subTest(size=size):
                # Exactly `size` UTF-8 bytes, with multi-byte characters in the mix.
                text = "ab✓" * (size // 5) + "x" * (size % 5)
                self.assertEqual(len(text.encode()), size)
                await self.ws.send(text)
                self.assertEqual(await self.recv(), text)

    async def test_binary_echo_sizes(self) -> None:
        for size in SIZES:
            with self.subTest(size=size):
                data = os.urandom(size)
                await self.ws.send(data)
                reply = await self.recv()
                self.assertIsInstance(reply, bytes)
                self.assertEqual(reply, data)

    async def test_fragmented_text(self) -> None:
        await self.ws.send(["frag", "ment", "", "ed ✓"])
        self.assertEqual(await self.recv(), "fragmented ✓")

    async def test_fragmented_binary(self) -> None:
        parts = [b"\x00\x01", os.urandom(70000), b"\xff"]
        await self.ws.send(parts)
        self.assertEqual(await self.recv(), b"".join(parts))

    async def test_ping_gets_pong_with_payload(self) -> None:
        # websockets resolves the waiter only for a pong carrying exactly this payload.
        waiter = await self.ws.ping(b"abc")
        await asyncio.wait_for(waiter, TIMEOUT)

    async def test_close_code_and_reason_echoed(self) -> None:
        await asyncio.wait_for(self.ws.close(code=1000, reason="bye now"), TIMEOUT)
        self.assertEqual(self.ws.close_code, 1000)
        self.assertEqual(self.ws.close_reason, "bye now")


class ChatTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self) -> None:
        self.server = await start_server("chat")

    async def asyncTearDown(self) -> None:
        await self.server.stop()

    async def test_seed_broadcast_between_two_clients(self) -> None:
        # Neither says hello: both speak the talk's protocol and get its exact JSON.
        async with connect(self.server.ws_url + "/") as a, connect(self.server.ws_url + "/ws") as b:
            await b.send('{"action":"message","message":"hello"}')
            reply = await asyncio.wait_for(a.recv(), TIMEOUT)
            self.assertRegex(reply, r'^\{"type":"message","body":"Client \d+: hello"\}$')
            self.assertEqual(await asyncio.wait_for(b.recv(), TIMEOUT), reply)

    async def test_hello_client_gets_structured_messages(self) -> None:
        async with connect(self.server.ws_url + "/") as a, connect(self.server.ws_url + "/ws") as b:
            ids = []
            for ws, name in ((a, "mio"), (b, None)):
                await ws.send(json.dumps({"action": "hello", "name": name}))
                welcome = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
                self.assertEqual(welcome["type"], "welcome")
                self.assertRegex(welcome["id"], r"^\d+$")
                self.assertEqual(welcome["name"], name)
                self.assertEqual(welcome["room"], "lobby")
                ids.append(welcome["id"])
                for expected in ("joined", "history"):
                    frame = json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))
                    self.assertEqual(frame["type"], expected)
            self.assertNotEqual(ids[0], ids[1])

            await b.send('{"action":"message","message":"hello"}')
            for ws in (a, b):
                while (frame := json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT)))["type"] != "message":
                    self.assertEqual(frame["type"], "presence")
                self.assertEqual(frame["body"], "Client %s: hello" % ids[1])
                self.assertEqual(frame["from"], {"id": ids[1], "name": None})
                self.assertEqual(frame["room"], "lobby")
                self.assertEqual(frame["text"], "hello")


if __name__ == "__main__":
    unittest.main()
