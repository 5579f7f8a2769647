"""Connection limits: past --max-connections, and when the process runs out of file
descriptors, new connections get an HTTP 503 (never a hang) and the server recovers."""

import asyncio
import unittest

from hibiki_proc import HOST, start_server

TIMEOUT = 5.0
UPGRADE = (
    "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


async def open_upgrade(port: int):
    """Opens a connection, asks for an upgrade; returns (status, reader, writer)."""
    reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, port), TIMEOUT)
    writer.write(UPGRADE.format(host=HOST).encode())
    await writer.drain()
    status_line = await asyncio.wait_for(reader.readline(), TIMEOUT)
    status = int(status_line.split()[1]) if status_line else 0
    return status, reader, writer


class ConnectionLimitTest(unittest.IsolatedAsyncioTestCase):
    async def test_max_connections_refuses_with_503_then_recovers(self) -> None:
        server = await start_server("echo", extra_args=["--max-connections", "3"])
        try:
            held = []
            for _ in range(3):
                status, reader, writer = await open_upgrade(server.port)
                self.assertEqual(status, 101)
                held.append(writer)
            status, _, writer = await open_upgrade(server.port)
            self.assertEqual(status, 503)
            writer.close()
            held.pop().close()
            await asyncio.sleep(0.3)  # let the server see the close
            status, _, writer = await open_upgrade(server.port)
            self.assertEqual(status, 101)
            writer.close()
            for w in held:
                w.close()
        finally:
            self.assertEqual(await server.stop(), 0)

    async def test_out_of_descriptors_refuses_with_503_instead_of_hanging(self) -> None:
        # 32 descriptors: the server's own (stdio, epoll, eventfd, listener, reserve) leave
        # room for about 25 connections; the rest must each get an answer, not silence.
        server = await start_server("echo", max_open_files=32)
        try:
            statuses = []
            writers = []
            for _ in range(40):
                status, _, writer = await open_upgrade(server.port)
                statuses.append(status)
                writers.append(writer)
            self.assertEqual(set(statuses), {101, 503}, statuses)
            self.assertGreater(statuses.count(101), 15)
            for w in writers:
                w.close()
            await asyncio.sleep(0.5)
            status, _, writer = await open_upgrade(server.port)
            self.assertEqual(status, 101, "server did not recover after descriptors came back")
            writer.close()
        finally:
            self.assertEqual(await server.stop(), 0)


class PerIpAndRateLimitTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self) -> None:
        self.server = await start_server(
            "echo", extra_args=["--max-connections-per-ip", "2", "--max-messages-per-second", "20"])

    async def asyncTearDown(self) -> None:
        self.assertEqual(await self.server.stop(), 0)

    async def metrics(self) -> dict[str, int]:
        reader, writer = await asyncio.wait_for(asyncio.open_connection(HOST, self.server.port), TIMEOUT)
        writer.write(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        text = (await asyncio.wait_for(reader.read(), TIMEOUT)).decode()
        writer.close()
        self.assertTrue(text.startswith("HTTP/1.1 200"), text[:40])
        values = {}
        for line in text.split("\r\n\r\n", 1)[1].splitlines():
            if line and not line.startswith("#"):
                name, value = line.split()
                values[name] = int(value)
        return values

    async def test_a_third_connection_from_one_ip_gets_503_and_is_counted(self) -> None:
        held = []
        for _ in range(2):
            status, _, writer = await open_upgrade(self.server.port)
            self.assertEqual(status, 101)
            held.append(writer)
        status, _, writer = await open_upgrade(self.server.port)
        self.assertEqual(status, 503)
        writer.close()
        for w in held:
            w.close()
        await asyncio.sleep(0.3)
        self.assertEqual((await self.metrics())["hibiki_refused_max_connections_per_ip_total"], 1)

    async def test_a_connection_over_the_message_rate_is_closed_with_1008(self) -> None:
        status, reader, writer = await open_upgrade(self.server.port)
        self.assertEqual(status, 101)
        # 200 masked empty text frames at once: far past 20/s with bursts of 40.
        writer.write(bytes([0x81, 0x80, 1, 2, 3, 4]) * 200)
        await writer.drain()
        code = None
        buffered = b""
        while code is None:
            chunk = await asyncio.wait_for(reader.read(65536), TIMEOUT)
            if not chunk:
                break
            buffered += chunk
            # Skip the echoes (81 00) until the close frame (88 len code...).
            while len(buffered) >= 2:
                length = buffered[1] & 0x7F
                if len(buffered) < 2 + length:
                    break
                if buffered[0] & 0x0F == 0x8:
                    code = int.from_bytes(buffered[2:4], "big")
                buffered = buffered[2 + length:]
        writer.close()
        self.assertEqual(code, 1008)
        self.assertGreaterEqual((await self.metrics())["hibiki_closed_message_rate_total"], 1)


if __name__ == "__main__":
    unittest.main()
