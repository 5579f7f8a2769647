"""The chat's history file seen from outside, with Python's own sqlite3 module: each message is
committed before it is broadcast, and a message that cannot be stored is refused, not sent."""

import asyncio
import json
import sqlite3
import tempfile
import unittest
from pathlib import Path

import websockets

from hibiki_proc import start_server

TIMEOUT = 10.0


async def recv_json(ws) -> dict:
    return json.loads(await asyncio.wait_for(ws.recv(), TIMEOUT))


async def recv_type(ws, wanted: str) -> dict:
    while (frame := await recv_json(ws))["type"] != wanted:
        pass
    return frame


class ChatStoreTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self) -> None:
        self.dir = tempfile.TemporaryDirectory(prefix="hibiki-store-")
        self.db = Path(self.dir.name) / "chat.db"
        self.server = await start_server("chat", extra_args=["--db", str(self.db)])

    async def asyncTearDown(self) -> None:
        await self.server.stop()
        self.dir.cleanup()

    async def hello(self, ws, name: str) -> None:
        await ws.send(json.dumps({"action": "hello", "name": name}))
        await recv_type(ws, "history")

    async def test_a_broadcast_message_is_already_in_the_file(self) -> None:
        async with websockets.connect(self.server.ws_url, open_timeout=TIMEOUT) as ws:
            await self.hello(ws, "py")
            await ws.send('{"action":"message","message":"written first"}')
            message = await recv_type(ws, "message")
            # Another connection to the file sees it the moment we do: it was committed.
            with sqlite3.connect(self.db) as db:
                self.assertEqual(db.execute("PRAGMA journal_mode").fetchone()[0], "wal")
                rows = db.execute("SELECT room, id, from_id, from_name, text, ts FROM messages").fetchall()
            self.assertEqual(rows, [("lobby", message["id"], message["from"]["id"], "py",
                                     "written first", message["ts"])])

    async def test_a_message_that_cannot_be_stored_is_refused_and_not_sent(self) -> None:
        async with websockets.connect(self.server.ws_url, open_timeout=TIMEOUT) as a, \
                websockets.connect(self.server.ws_url, open_timeout=TIMEOUT) as b:
            await self.hello(a, "writer")
            await self.hello(b, "watcher")
            await a.send('{"action":"message","message":"one"}')
            first = await recv_type(a, "message")
            self.assertEqual((await recv_type(b, "message"))["id"], first["id"])

            locker = sqlite3.connect(self.db, isolation_level=None)
            try:
                locker.execute("BEGIN IMMEDIATE")  # hold the write lock past the server's timeout
                await a.send('{"action":"message","message":"blocked"}')
                error = await recv_type(a, "error")
                self.assertEqual(error["error"], "store_failed")
                self.assertEqual(error["room"], "lobby")
            finally:
                locker.execute("ROLLBACK")
                locker.close()

            await a.send('{"action":"message","message":"two"}')
            second = await recv_type(a, "message")
            self.assertEqual(second["id"], first["id"] + 1)
            # The watcher never saw the refused message: its next one is "two".
            self.assertEqual((await recv_type(b, "message"))["text"], "two")
            self.assertIn("storing a message in room lobby failed", self.server.stderr.decode())


if __name__ == "__main__":
    unittest.main()
