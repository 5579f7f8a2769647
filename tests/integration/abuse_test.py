"""Hostile clients: a client that never reads (its queue hits --max-buffered and it is closed,
server memory stays bounded), a ping flood from a client that never reads the pongs, and a
request head dribbled byte by byte (answered 408 at the handshake timeout)."""

import asyncio
import os
import socket
import struct
import time
import unittest

from hibiki_proc import HOST, start_server

UPGRADE = (
    "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def masked_frame(opcode: int, payload: bytes) -> bytes:
    mask = os.urandom(4)
    head = bytes([0x80 | opcode])
    n = len(payload)
    if n < 126:
        head += bytes([0x80 | n])
    elif n < 65536:
        head += bytes([0x80 | 126]) + struct.pack("!H", n)
    else:
        head += bytes([0x80 | 127]) + struct.pack("!Q", n)
    body = bytes(b ^ mask[i % 4] for i, b in enumerate(payload)) if n < 4096 else \
        (int.from_bytes(payload, "big") ^ int.from_bytes((mask * (n // 4 + 1))[:n], "big")).to_bytes(n, "big")
    return head + mask + body


def rss_kb(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    return 0


def open_websocket(port: int) -> socket.socket:
    s = socket.create_connection((HOST, port), timeout=5)
    s.sendall(UPGRADE.format(host=HOST).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            raise ConnectionError("closed during handshake")
        head += chunk
    assert head.startswith(b"HTTP/1.1 101"), head
    return s


def closed_by_server(s: socket.socket, timeout: float) -> bool:
    """Reads (and discards) what the kernels buffered until EOF or reset; True if the server
    ended the connection within `timeout` seconds."""
    s.settimeout(timeout)
    deadline = time.monotonic() + timeout
    try:
        while time.monotonic() < deadline:
            if not s.recv(1 << 20):
                return True
    except (ConnectionResetError, BrokenPipeError):
        return True
    except socket.timeout:
        return False
    return False


class AbuseTest(unittest.IsolatedAsyncioTestCase):
    async def asyncSetUp(self) -> None:
        self.server = await start_server(
            "echo", extra_args=["--max-buffered", "1048576", "--handshake-timeout", "1",
                                "--close-timeout", "1"])

    async def asyncTearDown(self) -> None:
        self.assertEqual(await self.server.stop(), 0)

    async def test_a_client_that_never_reads_is_closed_when_its_queue_is_full(self) -> None:
        def scenario() -> tuple[bool, int]:
            s = open_websocket(self.server.port)
            before = rss_kb(self.server.process.pid)
            message = masked_frame(0x2, b"x" * 65536)
            sent = 0
            try:
                # 64 MB of echoes that are never read: far past the 1 MiB cap.
                s.settimeout(5)
                for _ in range(1024):
                    s.sendall(message)
                    sent += 1
            except OSError:
                pass  # the server closed on us mid-flood: that is the defence
            grown = rss_kb(self.server.process.pid) - before
            return closed_by_server(s, 10), grown

        closed, grown_kb = await asyncio.to_thread(scenario)
        self.assertTrue(closed, "server kept a client that never reads")
        # The cap is 1 MiB of queue; allow the read buffer and allocator slack on top.
        self.assertLess(grown_kb, 16 * 1024, f"server RSS grew by {grown_kb} KiB")
        self.assertIn(b"send buffer over 1048576 bytes, closing 1008", bytes(self.server.stderr))

    async def test_a_ping_flood_from_a_client_that_never_reads_is_closed(self) -> None:
        def scenario() -> bool:
            s = open_websocket(self.server.port)
            ping = masked_frame(0x9, b"p" * 125)
            s.settimeout(5)
            try:
                for _ in range(200_000):
                    s.sendall(ping)
            except OSError:
                pass
            return closed_by_server(s, 10)

        self.assertTrue(await asyncio.to_thread(scenario))

    async def test_ten_thousand_one_byte_fragments_make_one_message(self) -> None:
        def scenario() -> bytes:
            s = open_websocket(self.server.port)
            frames = bytearray()
            first = bytearray(masked_frame(0x1, b"a"))
            first[0] = 0x01  # text, FIN clear
            frames += first
            middle = bytearray(masked_frame(0x0, b"b"))
            middle[0] = 0x00  # continuation, FIN clear
            frames += bytes(middle) * 9_998
            frames += masked_frame(0x0, b"c")  # continuation, FIN set
            s.sendall(bytes(frames))
            s.settimeout(5)
            received = b""
            while len(received) < 4 + 10_000:
                chunk = s.recv(65536)
                if not chunk:
                    break
                received += chunk
            s.close()
            return received

        echoed = await asyncio.to_thread(scenario)
        self.assertEqual(echoed[:4], bytes([0x81, 126]) + (10_000).to_bytes(2, "big"))
        self.assertEqual(echoed[4:], b"a" + b"b" * 9_998 + b"c")

    async def test_absurd_lengths_are_refused_before_any_payload(self) -> None:
        def close_code_for(length_bytes: bytes) -> int:
            s = open_websocket(self.server.port)
            s.sendall(bytes([0x82, 0x80 | 127]) + length_bytes + b"\x00\x00\x00\x00")
            s.settimeout(5)
            head = s.recv(4)
            s.close()
            return int.from_bytes(head[2:4], "big") if len(head) == 4 and head[0] == 0x88 else -1

        # 2^63: the most significant bit is set, a framing error; 2^62: merely too big.
        self.assertEqual(await asyncio.to_thread(close_code_for, (1 << 63).to_bytes(8, "big")), 1002)
        self.assertEqual(await asyncio.to_thread(close_code_for, (1 << 62).to_bytes(8, "big")), 1009)

    async def test_a_request_head_dribbled_byte_by_byte_gets_408_at_the_timeout(self) -> None:
        def scenario() -> tuple[bytes, float]:
            s = socket.create_connection((HOST, self.server.port), timeout=5)
            started = time.monotonic()
            request = UPGRADE.format(host=HOST).encode()
            received = b""
            s.settimeout(0.1)
            for byte in request[:-1]:  # never the final byte
                try:
                    s.sendall(bytes([byte]))
                except OSError:
                    break
                try:
                    chunk = s.recv(4096)
                    if not chunk:
                        break
                    received += chunk
                except socket.timeout:
                    pass
                if time.monotonic() - started > 5:
                    break
            return received, time.monotonic() - started

        received, elapsed = await asyncio.to_thread(scenario)
        self.assertTrue(received.startswith(b"HTTP/1.1 408"), received[:40])
        self.assertGreater(elapsed, 0.7)
        self.assertLess(elapsed, 4.0)


if __name__ == "__main__":
    unittest.main()
