"""Backpressure under a broadcast flood: the chat publishes 40,000 messages of about 1 KiB to a
talk client that never reads (a 4 KiB receive buffer, nothing read after the 101), next to a
client that reads everything. With --backpressure drop the non-reader stays connected and its
messages are dropped; with close it is closed with 1008. Either way the reader gets every
message in order and the server's memory stays bounded by --max-buffered, not by the flood."""

import asyncio
import functools
import os
import re
import socket
import struct
import tempfile
import threading
import time
import unittest

from hibiki_proc import HOST, hibiki_bin, start_server

MESSAGES = 40_000
TEXT_BYTES = 1_000  # chat text per message; the talk frame around it adds about 40 bytes
MAX_BUFFERED = 1 << 20
# The publisher stays at most WINDOW + BATCH messages (under 400 KiB) ahead of the slower of the
# two reading clients, so their queues never come near MAX_BUFFERED: only the non-reader is
# ever backpressured, whichever loops the three connections land on.
WINDOW = 256
BATCH = 64
# The baseline is taken once /metrics shows the non-reader hit the cap (and at least this many
# messages went out); its queue is full then, and cannot grow afterwards.
WARMUP_MIN = 2_000
WARMUP_MAX = 10_000
# Allowed RSS growth after the baseline: the cap once more (in case the queue was not quite full
# at the baseline) plus 16 MiB of slack for malloc arenas on each loop thread and SQLite's page
# cache (2 MiB by default); measured under 0.6 MiB (debug build). An ASan build also keeps freed
# blocks in its quarantine, so its RSS grows with every allocation: 8 MiB more (measured 5-12 MiB
# in all). Without the cap the non-reader's queue keeps every later message, (40,000 - 10,240) x
# ~1 KiB: measured 31.4 MiB (debug) and 35-38 MiB (ASan) with --max-buffered 1 GiB.
RSS_BOUND_KIB = MAX_BUFFERED // 1024 + 16 * 1024
ASAN_QUARANTINE_KIB = 8 * 1024
SEQ_RE = re.compile(rb"#(\d{6})#")
TIMEOUT = 10.0
RUN_DEADLINE = 60.0  # the flood itself takes a few seconds; this only bounds a hang

UPGRADE = (
    "GET / HTTP/1.1\r\nHost: {host}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"
    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n"
)


def open_websocket(port: int, receive_buffer: int | None = None) -> socket.socket:
    """A raw WebSocket connection; the 101 head is read byte by byte, so not one frame byte
    is taken from the socket."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    if receive_buffer is not None:
        # Before connect, so the window offered in the SYN is already the small one.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, receive_buffer)
    s.settimeout(TIMEOUT)
    s.connect((HOST, port))
    s.sendall(UPGRADE.format(host=HOST).encode())
    head = b""
    while b"\r\n\r\n" not in head:
        chunk = s.recv(1)
        if not chunk:
            raise ConnectionError("closed during the handshake")
        head += chunk
    if not head.startswith(b"HTTP/1.1 101"):
        raise ConnectionError(head.decode(errors="replace"))
    return s


def masked_text(payload: bytes) -> bytes:
    mask = os.urandom(4)
    n = len(payload)
    if n < 126:
        head = bytes([0x81, 0x80 | n])
    else:
        head = bytes([0x81, 0x80 | 126]) + struct.pack("!H", n)
    key = int.from_bytes((mask * (n // 4 + 1))[:n], "big")
    return head + mask + (int.from_bytes(payload, "big") ^ key).to_bytes(n, "big")


def chat_frame(seq: int, text_bytes: int = TEXT_BYTES) -> bytes:
    text = f"#{seq:06d}#" + "x" * (text_bytes - 8)
    return masked_text(('{"action":"message","message":"' + text + '"}').encode())


def metrics(port: int) -> dict[str, int]:
    with socket.create_connection((HOST, port), timeout=TIMEOUT) as s:
        s.sendall(b"GET /metrics HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n")
        data = b""
        while chunk := s.recv(65536):
            data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    if not head.startswith(b"HTTP/1.1 200"):
        raise AssertionError(head.decode(errors="replace"))
    values = {}
    for line in body.decode().splitlines():
        if line and not line.startswith("#"):
            name, value = line.split()
            values[name] = int(value)
    return values


@functools.cache
def rss_bound_kib() -> int:
    asan = b"AddressSanitizer" in hibiki_bin().read_bytes()
    return RSS_BOUND_KIB + (ASAN_QUARANTINE_KIB if asan else 0)


def rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as status:
        for line in status:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


class Subscriber:
    """Reads one connection on a thread: the sequence numbers of the chat messages in the order
    they came, the close frame's code, and whether the server ended the stream."""

    def __init__(self, sock: socket.socket) -> None:
        self.sock = sock
        self.seqs: list[int] = []
        self.syncs = 0  # number-0 messages: the roll call before the flood
        self.close_code: int | None = None
        self.ended = False  # EOF or reset
        self.error: str | None = None
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        buffer = bytearray()
        self.sock.settimeout(RUN_DEADLINE)
        while True:
            try:
                chunk = self.sock.recv(1 << 18)
            except (ConnectionResetError, BrokenPipeError):
                chunk = b""
            except OSError as error:  # timeout, or the socket closed under us at teardown
                self.error = repr(error)
                return
            if not chunk:
                self.ended = True
                return
            buffer += chunk
            pos = 0
            while len(buffer) - pos >= 2:
                opcode, length, start = buffer[pos] & 0x0F, buffer[pos + 1] & 0x7F, pos + 2
                if length == 126:
                    if len(buffer) - start < 2:
                        break
                    length, start = struct.unpack_from("!H", buffer, start)[0], start + 2
                elif length == 127:
                    if len(buffer) - start < 8:
                        break
                    length, start = struct.unpack_from("!Q", buffer, start)[0], start + 8
                if len(buffer) - start < length:
                    break
                payload = bytes(buffer[start:start + length])
                pos = start + length
                if opcode == 0x1:
                    match = SEQ_RE.search(payload)
                    if match is None:
                        self.error = f"unexpected text frame {payload[:80]!r}"
                        return
                    seq = int(match.group(1))
                    if seq == 0:
                        self.syncs += 1
                    else:
                        self.seqs.append(seq)
                elif opcode == 0x8:
                    self.close_code = struct.unpack("!H", payload[:2])[0] if length >= 2 else 1005
            del buffer[:pos]

    @property
    def count(self) -> int:
        return len(self.seqs)

    def wait_for_sync(self, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while not self.syncs and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.syncs > 0

    def wait_for(self, count: int, timeout: float) -> bool:
        deadline = time.monotonic() + timeout
        while self.count < count and self.thread.is_alive() and time.monotonic() < deadline:
            time.sleep(0.005)
        return self.count >= count


class RssSampler:
    """Samples the server's VmRSS every 10 ms; `peak` is the largest sample since reset()."""

    def __init__(self, pid: int) -> None:
        self.pid = pid
        self.peak = 0
        self.lock = threading.Lock()  # a sample taken before reset() must not land after it
        self.stopped = threading.Event()
        self.thread = threading.Thread(target=self._run, daemon=True)
        self.thread.start()

    def _run(self) -> None:
        while not self.stopped.wait(0.01):
            with self.lock:
                self.peak = max(self.peak, rss_kib(self.pid))

    def reset(self) -> int:
        with self.lock:
            self.peak = rss_kib(self.pid)
            return self.peak

    def stop(self) -> int:
        self.stopped.set()
        self.thread.join()
        return max(self.peak, rss_kib(self.pid))


class Flood:
    """The run shared by both policies: three talk clients (no hello, so all in the lobby and
    all sent every message), a publisher that reads its own echoes, a reader and a non-reader."""

    def __init__(self, port: int, pid: int, counter: str) -> None:
        self.port, self.pid, self.counter = port, pid, counter
        self.baseline_kib = 0
        self.peak_kib = 0
        self.baseline_at = 0  # messages sent when the baseline was taken
        self.seconds = 0.0
        self.silent: socket.socket | None = None
        self.reader: Subscriber | None = None
        self.echoes: Subscriber | None = None
        self.reader_seqs: list[int] = []
        self.echo_seqs: list[int] = []

    def run(self) -> None:
        self.silent = open_websocket(self.port, receive_buffer=4096)
        self.reader = Subscriber(open_websocket(self.port))
        publisher_sock = open_websocket(self.port)
        self.echoes = Subscriber(publisher_sock)
        # Roll call: the 101 leaves just before on_open puts a connection in the lobby. A short
        # message from the non-reader (handled after its own on_open) that the other two hear
        # shows all three are in before message 1; repeated in case one was not yet.
        for _ in range(50):
            self.silent.sendall(chat_frame(0, text_bytes=8))
            if self.reader.wait_for_sync(0.1) and self.echoes.wait_for_sync(0.1):
                break
        else:
            raise AssertionError("the three clients never all joined the lobby")
        sampler = RssSampler(self.pid)
        started = time.monotonic()
        deadline = started + RUN_DEADLINE
        sent = 0
        try:
            while sent < MESSAGES:
                # Windowed: never more than WINDOW + BATCH messages ahead of either reader.
                while min(self.reader.count, self.echoes.count) < sent - WINDOW:
                    if time.monotonic() > deadline or not (self.reader.thread.is_alive() and
                                                           self.echoes.thread.is_alive()):
                        raise AssertionError(
                            f"stalled at {sent} sent: reader {self.reader.count} "
                            f"({self.reader.error}), echoes {self.echoes.count} "
                            f"({self.echoes.error})")
                    time.sleep(0.0005)
                batch = min(BATCH, MESSAGES - sent)
                publisher_sock.sendall(b"".join(chat_frame(sent + i + 1) for i in range(batch)))
                sent += batch
                if not self.baseline_at and sent >= WARMUP_MIN and sent % 512 == 0:
                    if metrics(self.port)[self.counter] > 0 or sent >= WARMUP_MAX:
                        self.baseline_at = sent
                        self.baseline_kib = sampler.reset()
            for sub in (self.reader, self.echoes):
                if not sub.wait_for(MESSAGES, TIMEOUT):
                    raise AssertionError(f"got {sub.count} of {MESSAGES} ({sub.error})")
            # Copies: in the drop test the non-reader speaks afterwards, and both hear it.
            self.reader_seqs, self.echo_seqs = list(self.reader.seqs), list(self.echoes.seqs)
            self.seconds = time.monotonic() - started
        finally:
            self.peak_kib = sampler.stop()

    @property
    def growth_kib(self) -> int:
        return self.peak_kib - self.baseline_kib

    def close(self) -> None:
        for sub in (self.reader, self.echoes):
            if sub is not None:
                sub.sock.close()
        if self.silent is not None:
            self.silent.close()


class BackpressureFloodTest(unittest.IsolatedAsyncioTestCase):
    async def start(self, policy: str, extra: list[str] = ()):
        # A file database: ":memory:" would grow with the history itself (about 40 MiB here)
        # and hide the queue in the RSS figure.
        self.tmp = tempfile.TemporaryDirectory()
        self.addCleanup(self.tmp.cleanup)
        server = await start_server("chat", extra_args=[
            "--db", os.path.join(self.tmp.name, "chat.db"), "--rate-limit", "0",
            "--max-buffered", str(MAX_BUFFERED), "--backpressure", policy, *extra])
        return server

    def assert_all_in_order(self, seqs: list[int], who: str) -> None:
        expected = list(range(1, MESSAGES + 1))
        if seqs != expected:
            at = next((i for i, (a, b) in enumerate(zip(seqs, expected)) if a != b),
                      min(len(seqs), MESSAGES))
            self.fail(f"{who}: {len(seqs)} messages, first difference at index {at}: "
                      f"{seqs[at:at + 3]} instead of {expected[at:at + 3]}")

    def check_common(self, flood: Flood, counter: str) -> None:
        self.assertTrue(flood.baseline_at, "no baseline taken")
        # Memory first: it is what the cap is for.
        self.assertLess(
            flood.growth_kib, rss_bound_kib(),
            f"server RSS grew by {flood.growth_kib} KiB after {flood.baseline_at} messages "
            f"(baseline {flood.baseline_kib} KiB)")
        self.assert_all_in_order(flood.reader_seqs, "reader")
        self.assert_all_in_order(flood.echo_seqs, "publisher")
        self.assertIsNone(flood.reader.close_code)

    def report(self, flood: Flood, silent_count: int, outcome: str) -> None:
        print(f"\n  {MESSAGES} messages in {flood.seconds:.1f} s; RSS baseline "
              f"{flood.baseline_kib} KiB after {flood.baseline_at}, peak growth "
              f"{flood.growth_kib} KiB (bound {rss_bound_kib()}); the non-reader got "
              f"{silent_count}, {outcome}", flush=True)

    async def test_drop_keeps_the_non_reader_and_drops_its_messages(self) -> None:
        server = await self.start("drop")
        counter = "hibiki_messages_dropped_total"
        try:
            def scenario() -> tuple[Flood, dict[str, int], Subscriber, list[int]]:
                flood = Flood(server.port, server.process.pid, counter)
                try:
                    flood.run()
                    after = metrics(server.port)
                    # Now read what the non-reader was sent: exactly the messages not dropped.
                    silent = Subscriber(flood.silent)
                    expected = MESSAGES - after[counter]
                    silent.wait_for(expected, TIMEOUT)
                    time.sleep(0.2)  # nothing more may come
                    backlog = list(silent.seqs)
                    # Still connected: what it says now comes back to it.
                    flood.silent.sendall(chat_frame(MESSAGES + 1))
                    silent.wait_for(len(backlog) + 1, TIMEOUT)
                    return flood, after, silent, backlog
                finally:
                    flood.close()

            flood, after, silent, backlog = await asyncio.to_thread(scenario)
            self.check_common(flood, counter)
            dropped = after[counter]
            self.assertGreater(dropped, MESSAGES // 2)
            self.assertEqual(after["hibiki_closed_buffer_full_total"], 0)
            self.assertEqual(len(backlog), MESSAGES - dropped)
            self.assertTrue(all(a < b for a, b in zip(backlog, backlog[1:])), "non-reader: order")
            self.assertEqual(silent.seqs[len(backlog):], [MESSAGES + 1])
            self.assertIsNone(silent.close_code)
            self.assertFalse(silent.ended)
            self.report(flood, len(backlog), f"{dropped} dropped")
        finally:
            self.assertEqual(await server.stop(), 0)

    async def test_close_ends_the_non_reader_with_1008(self) -> None:
        # A long close timeout keeps the closed connection's queue, close frame last, until the
        # test reads it.
        server = await self.start("close", ["--close-timeout", "60"])
        counter = "hibiki_closed_buffer_full_total"
        try:
            def scenario() -> tuple[Flood, dict[str, int], Subscriber]:
                flood = Flood(server.port, server.process.pid, counter)
                try:
                    flood.run()
                    after = metrics(server.port)
                    silent = Subscriber(flood.silent)
                    silent.thread.join(TIMEOUT)
                    return flood, after, silent
                finally:
                    flood.close()

            flood, after, silent = await asyncio.to_thread(scenario)
            self.check_common(flood, counter)
            self.assertEqual(after[counter], 1)
            self.assertEqual(after["hibiki_messages_dropped_total"], 0)
            # What it was sent before the close: the first messages, in order, then 1008, EOF.
            self.assertGreater(silent.count, 0)
            self.assertEqual(silent.seqs, list(range(1, silent.count + 1)))
            self.assertLess(silent.count, MESSAGES // 2)
            self.assertEqual(silent.close_code, 1008)
            self.assertTrue(silent.ended, silent.error)
            self.assertIn(f"send buffer over {MAX_BUFFERED} bytes, closing 1008".encode(),
                          bytes(server.stderr))
            self.report(flood, silent.count, "then close 1008")
        finally:
            self.assertEqual(await server.stop(), 0)


if __name__ == "__main__":
    unittest.main()
