"""Raw-socket reproduction of Autobahn|Testsuite (fuzzingclient) cases 1.* - 10.*.

Runs against ``hibiki echo`` (HIBIKI_BIN, default build/debug/hibiki of this checkout):

    /usr/bin/python3 -m unittest discover -s tests/conformance -p '*_test.py'

Standard library only. The client below builds every frame byte by byte (so it can send
what a normal client never would: RSV bits, reserved opcodes, unmasked frames, oversized
or fragmented control frames, non-minimal or MSB-set lengths, chopped TCP writes with
delays) and parses the server's frames strictly (unmasked, RSV 0, known opcodes, FIN on
control frames, <= 125 byte control payloads, minimal length encoding, continuation rules,
valid UTF-8 in text messages and close reasons, valid close codes, nothing after a close).

Each case mirrors Autobahn's case definition (what is sent, the list of expected events per
verdict, expectedClose) and its verdict rules; see README.md next to this file. Any verdict
other than OK fails the test: FAILED, NON-STRICT, WRONG CODE, UNCLEAN, FAILED BY CLIENT.
Where hibiki promises more than Autobahn checks (e.g. a close frame rather than a bare TCP
drop, the exact close code) the failure message says "hibiki contract". HibikiExtras and
HibikiConnectionRelease are not Autobahn cases.
"""

import codecs
import os
import re
import select
import signal
import socket
import struct
import subprocess
import tempfile
import time
import unittest
import base64
import hashlib

REPO_ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
# Default: build/debug/hibiki of this checkout (/work/main/build/debug/hibiki on a dev machine).
HIBIKI_BIN = os.environ.get("HIBIKI_BIN", os.path.join(REPO_ROOT, "build", "debug", "hibiki"))

# Autobahn's own timers, in seconds (fuzzing client defaults and per-case killAfter()).
# HIBIKI_CONF_TIME_SCALE multiplies them (default 1.0 = exactly Autobahn's timing); raise it
# only to rule out a loaded machine. Loopback answers take milliseconds, so 1.0 is generous.
TIME_SCALE = float(os.environ.get("HIBIKI_CONF_TIME_SCALE", "1.0"))
KILL_AFTER = 1.0  # most failure cases: the server must fail the connection within this
KILL_AFTER_6X = 0.5  # cases 6.5.* - 6.23.*: killAfter(0.5)
CLOSE_HANDSHAKE_TIMEOUT = 1.0  # client factory closeHandshakeTimeout
SERVER_DROP_TIMEOUT = 1.0  # client factory serverConnectionDropTimeout
FAIL_FAST_WAIT = 1.0  # 6.4.*: continueLater(1, ...)
BIG_WAIT = 60.0  # 9.*: generous, never a performance assertion
IO_TIMEOUT = 10.0  # connect / handshake / server start and stop

CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_INVALID_PAYLOAD = 1007
CLOSE_MESSAGE_TOO_BIG = 1009

MAX_MESSAGE = 16 * 1024 * 1024  # hibiki echo: --max-message default

OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG = 0, 1, 2, 8, 9, 10
KNOWN_OPCODES = {OP_CONT, OP_TEXT, OP_BINARY, OP_CLOSE, OP_PING, OP_PONG}
WS_GUID = b"258EAFA5-E914-47DA-95CA-C5AB0DC85B11"


def scaled(seconds):
    return seconds * TIME_SCALE


# --------------------------------------------------------------------------------------
# Frame building
# --------------------------------------------------------------------------------------


def mask_bytes(key, data):
    n = len(data)
    if n == 0:
        return b""
    stream = (key * (n // 4 + 1))[:n]
    return (int.from_bytes(data, "little") ^ int.from_bytes(stream, "little")).to_bytes(n, "little")


def build_frame(opcode, payload=b"", fin=True, rsv=0, masked=True, mask_key=None,
                length_form="auto", declared_len=None):
    """One frame. length_form: auto (minimal), 7, 16 or 64; declared_len overrides the length
    written in the header (for lying headers)."""
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    n = len(payload) if declared_len is None else declared_len
    b0 = (0x80 if fin else 0) | ((rsv & 7) << 4) | (opcode & 0x0F)
    mbit = 0x80 if masked else 0
    if length_form == "auto":
        length_form = 7 if n < 126 else (16 if n < 65536 else 64)
    if length_form == 7:
        header = struct.pack("!BB", b0, mbit | n)
    elif length_form == 16:
        header = struct.pack("!BBH", b0, mbit | 126, n)
    elif length_form == 64:
        header = struct.pack("!BBQ", b0, mbit | 127, n)
    else:
        raise ValueError(length_form)
    if masked:
        key = os.urandom(4) if mask_key is None else mask_key
        return header + key + mask_bytes(key, payload)
    return header + payload


def repeat_to(pattern, n):
    return (pattern * (n // len(pattern) + 1))[:n]


def close_payload(code=None, reason=b""):
    if code is None:
        return b""
    if isinstance(reason, str):
        reason = reason.encode("utf-8")
    return struct.pack("!H", code) + reason


def valid_close_code(code):
    return code in (1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 1012, 1013, 1014) or (
        3000 <= code <= 4999)


def describe(events):
    out = []
    for ev in events:
        if ev[0] == "message":
            payload = ev[1]
            shown = payload[:40]
            extra = "" if len(payload) <= 40 else "...(%d bytes)" % len(payload)
            out.append("%s(%r%s)" % ("binary" if ev[2] else "text", shown, extra))
        elif ev[0] == "pong":
            out.append("pong(%r)" % ev[1][:40])
        else:
            out.append(repr(ev))
    return "[" + ", ".join(out) + "]"


class ServerViolation(AssertionError):
    """The server sent something RFC 6455 forbids (Autobahn's client would fail it).
    An AssertionError, so that unittest reports it as a failure wherever it is raised."""


# --------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------


class WsClient:
    def __init__(self, port, path="/"):
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=IO_TIMEOUT)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.setblocking(False)
        self.rbuf = bytearray()
        self.eof = False
        self.reset = False
        self.send_error = None
        self.msg_opcode = None
        self.msg_parts = []
        self.msg_utf8 = None
        self.close_frame = None  # (code or None, reason bytes) once the server's close arrived
        self.close_sent = False
        self.server_pings = []
        self._handshake(path)

    # -- raw IO ------------------------------------------------------------------------

    def _recv_some(self):
        try:
            data = self.sock.recv(1 << 20)
        except (BlockingIOError, InterruptedError):
            return 0
        except (ConnectionResetError, ConnectionAbortedError):
            self.eof = True
            self.reset = True
            return 0
        if not data:
            self.eof = True
            return 0
        self.rbuf += data
        return len(data)

    def _fill(self, deadline):
        """Wait for more bytes (or EOF) until deadline. Returns False on timeout."""
        if self.eof:
            return False
        remaining = deadline - time.monotonic()
        if remaining <= 0:
            return False
        readable, _, _ = select.select([self.sock], [], [], remaining)
        if not readable:
            return False
        self._recv_some()
        return True

    def send_raw(self, data, timeout=BIG_WAIT):
        """Send all of data, reading whatever the server sends meanwhile (no deadlock on big
        echoes). Returns False if the server stopped accepting bytes (reset / broken pipe)."""
        view = memoryview(data)
        deadline = time.monotonic() + timeout
        while len(view):
            if self.send_error is not None:
                return False
            remaining = deadline - time.monotonic()
            if remaining <= 0:
                raise TimeoutError("could not send %d remaining bytes within %.0f s"
                                   % (len(view), timeout))
            rlist = [] if self.eof else [self.sock]
            readable, writable, _ = select.select(rlist, [self.sock], [], remaining)
            if readable:
                self._recv_some()
            if writable:
                try:
                    sent = self.sock.send(view[:1 << 20])
                except (BlockingIOError, InterruptedError):
                    continue
                except (BrokenPipeError, ConnectionResetError, ConnectionAbortedError) as err:
                    self.send_error = err
                    return False
                view = view[sent:]
        return True

    def send_chopped(self, data, chopsize=None, delay=0.0):
        if not chopsize:
            return self.send_raw(data)
        for i in range(0, len(data), chopsize):
            if not self.send_raw(data[i:i + chopsize]):
                return False
            if delay:
                time.sleep(delay)
        return True

    def send_frame(self, opcode, payload=b"", fin=True, rsv=0, masked=True, length_form="auto",
                   declared_len=None, chopsize=None, delay=0.0, sync=False):
        """Autobahn's sendFrame(): chopsize = TCP write size; sync = its own TCP segment."""
        frame = build_frame(opcode, payload, fin=fin, rsv=rsv, masked=masked,
                            length_form=length_form, declared_len=declared_len)
        ok = self.send_chopped(frame, chopsize, delay)
        if sync:
            time.sleep(0.01)
        return ok

    def send_message(self, opcode, payload, frag_size=None):
        """Autobahn's sendMessage(..., fragmentSize / payload_frag_size)."""
        if isinstance(payload, str):
            payload = payload.encode("utf-8")
        if not frag_size or len(payload) <= frag_size:
            return self.send_frame(opcode, payload)
        frames = []
        first = True
        for i in range(0, len(payload), frag_size):
            chunk = payload[i:i + frag_size]
            last = i + frag_size >= len(payload)
            frames.append(build_frame(opcode if first else OP_CONT, chunk, fin=last))
            first = False
        return self.send_raw(b"".join(frames))

    def send_close(self, code=None, reason=b"", **kw):
        self.close_sent = True
        return self.send_frame(OP_CLOSE, close_payload(code, reason), **kw)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass

    # -- opening handshake -------------------------------------------------------------

    def _handshake(self, path):
        key = base64.b64encode(os.urandom(16))
        request = (b"GET " + path.encode() + b" HTTP/1.1\r\n"
                   b"Host: 127.0.0.1\r\n"
                   b"Upgrade: websocket\r\n"
                   b"Connection: Upgrade\r\n"
                   b"Sec-WebSocket-Key: " + key + b"\r\n"
                   b"Sec-WebSocket-Version: 13\r\n"
                   b"User-Agent: hibiki-conformance\r\n\r\n")
        self.send_raw(request, timeout=IO_TIMEOUT)
        deadline = time.monotonic() + IO_TIMEOUT
        while b"\r\n\r\n" not in self.rbuf:
            if not self._fill(deadline):
                raise ServerViolation("opening handshake: no complete HTTP response (got %r)"
                                      % bytes(self.rbuf[:200]))
        end = self.rbuf.index(b"\r\n\r\n") + 4
        head = bytes(self.rbuf[:end]).decode("latin-1")
        del self.rbuf[:end]
        lines = head.split("\r\n")
        if not re.match(r"HTTP/1\.1 101 ", lines[0] + " "):
            raise ServerViolation("opening handshake: status line %r" % lines[0])
        headers = {}
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers[name.strip().lower()] = value.strip()
        expected = base64.b64encode(hashlib.sha1(key + WS_GUID).digest()).decode()
        if headers.get("sec-websocket-accept") != expected:
            raise ServerViolation("opening handshake: bad Sec-WebSocket-Accept %r"
                                  % headers.get("sec-websocket-accept"))
        if headers.get("upgrade", "").lower() != "websocket":
            raise ServerViolation("opening handshake: Upgrade header %r" % headers.get("upgrade"))
        if "upgrade" not in headers.get("connection", "").lower():
            raise ServerViolation("opening handshake: Connection header %r"
                                  % headers.get("connection"))
        if "sec-websocket-extensions" in headers:
            raise ServerViolation("server negotiated an extension nobody offered: %r"
                                  % headers["sec-websocket-extensions"])

    # -- strict frame parsing ----------------------------------------------------------

    def _parse_frame(self):
        buf = self.rbuf
        if len(buf) < 2:
            return None
        b0, b1 = buf[0], buf[1]
        fin, rsv, opcode = b0 >> 7, (b0 >> 4) & 7, b0 & 0x0F
        masked, n = b1 >> 7, b1 & 0x7F
        pos = 2
        if n == 126:
            if len(buf) < 4:
                return None
            n = struct.unpack_from("!H", buf, 2)[0]
            pos = 4
            if n < 126:
                raise ServerViolation("server frame uses 16-bit length for %d bytes "
                                      "(not minimal length encoding)" % n)
        elif n == 127:
            if len(buf) < 10:
                return None
            n = struct.unpack_from("!Q", buf, 2)[0]
            pos = 10
            if n >> 63:
                raise ServerViolation("server frame 64-bit length has its MSB set")
            if n < 65536:
                raise ServerViolation("server frame uses 64-bit length for %d bytes "
                                      "(not minimal length encoding)" % n)
        if masked:
            raise ServerViolation("server sent a masked frame (opcode %d)" % opcode)
        if rsv:
            raise ServerViolation("server frame has RSV bits %d set (no extension negotiated)"
                                  % rsv)
        if opcode not in KNOWN_OPCODES:
            raise ServerViolation("server frame has reserved opcode %d" % opcode)
        if opcode >= 8:
            if not fin:
                raise ServerViolation("server sent a fragmented control frame (opcode %d)"
                                      % opcode)
            if n > 125:
                raise ServerViolation("server control frame (opcode %d) with %d byte payload"
                                      % (opcode, n))
        if len(buf) < pos + n:
            return None
        payload = bytes(buf[pos:pos + n])
        del buf[:pos + n]
        return fin, opcode, payload

    def next_event(self, deadline):
        """Next event from the server, Autobahn-style:
        ('message', payload, is_binary) | ('pong', payload) | ('close', code, reason)
        | ('eof',) | ('timeout',). Server pings are answered (as Autobahn does), not reported."""
        while True:
            if self.close_frame is not None:
                if self.rbuf:
                    raise ServerViolation("server sent %d more bytes after its close frame: %r"
                                          % (len(self.rbuf), bytes(self.rbuf[:40])))
                if self.eof:
                    return ("eof",)
                if not self._fill(deadline):
                    return ("eof",) if self.eof else ("timeout",)
                continue
            frame = self._parse_frame()
            if frame is None:
                if self.eof:
                    if self.rbuf:
                        raise ServerViolation("connection ended inside a frame (%d bytes left)"
                                              % len(self.rbuf))
                    return ("eof",)
                if not self._fill(deadline):
                    return ("eof",) if self.eof and not self.rbuf else ("timeout",)
                continue
            fin, opcode, payload = frame
            event = self._on_frame(fin, opcode, payload)
            if event is not None:
                return event

    def _on_frame(self, fin, opcode, payload):
        if opcode == OP_PING:
            self.server_pings.append(payload)
            if not self.close_sent:
                self.send_frame(OP_PONG, payload)
            return None
        if opcode == OP_PONG:
            return ("pong", payload)
        if opcode == OP_CLOSE:
            if len(payload) == 1:
                raise ServerViolation("server close frame with a 1-byte payload")
            code = None
            reason = b""
            if len(payload) >= 2:
                code = struct.unpack("!H", payload[:2])[0]
                reason = payload[2:]
                if not valid_close_code(code):
                    raise ServerViolation("server close frame with invalid close code %d" % code)
                try:
                    reason.decode("utf-8")
                except UnicodeDecodeError:
                    raise ServerViolation("server close reason is not valid UTF-8: %r" % reason)
            self.close_frame = (code, reason)
            return ("close", code, reason)
        if opcode in (OP_TEXT, OP_BINARY):
            if self.msg_opcode is not None:
                raise ServerViolation("server started a new data frame (opcode %d) inside a "
                                      "fragmented message" % opcode)
            self.msg_opcode = opcode
            self.msg_parts = []
            self.msg_utf8 = codecs.getincrementaldecoder("utf-8")() if opcode == OP_TEXT else None
        elif opcode == OP_CONT:
            if self.msg_opcode is None:
                raise ServerViolation("server sent a continuation frame with nothing to continue")
        self.msg_parts.append(payload)
        if self.msg_utf8 is not None:
            try:
                self.msg_utf8.decode(payload, final=bool(fin))
            except UnicodeDecodeError as err:
                raise ServerViolation("server sent a text message that is not valid UTF-8: %s"
                                      % err)
        if not fin:
            return None
        message = b"".join(self.msg_parts)
        binary = self.msg_opcode == OP_BINARY
        self.msg_opcode = None
        self.msg_parts = []
        self.msg_utf8 = None
        return ("message", message, binary)

    def wait_eof(self, timeout):
        """After the close frames: the server must end the TCP connection. True if it did."""
        deadline = time.monotonic() + timeout
        while not self.eof:
            if self.rbuf and self.close_frame is not None:
                raise ServerViolation("server sent %d more bytes after its close frame: %r"
                                      % (len(self.rbuf), bytes(self.rbuf[:40])))
            if not self._fill(deadline):
                break
        if self.rbuf and self.close_frame is not None:
            raise ServerViolation("server sent %d more bytes after its close frame: %r"
                                  % (len(self.rbuf), bytes(self.rbuf[:40])))
        return self.eof


# --------------------------------------------------------------------------------------
# The server process and the Autobahn verdict logic
# --------------------------------------------------------------------------------------


class ServerProcess:
    def __init__(self, binary, extra_args=()):
        if not os.path.isfile(binary) or not os.access(binary, os.X_OK):
            raise RuntimeError("hibiki binary not found at %s (set HIBIKI_BIN)" % binary)
        fd, self.log_path = tempfile.mkstemp(prefix="hibiki-conformance-", suffix=".log")
        self.log = os.fdopen(fd, "wb")
        self.proc = subprocess.Popen(
            [binary, "echo", "--host", "127.0.0.1", "--port", "0", *extra_args],
            stdin=subprocess.DEVNULL, stdout=self.log, stderr=self.log)
        self.port = None
        deadline = time.monotonic() + IO_TIMEOUT
        pattern = re.compile(rb"listening on http://127\.0\.0\.1:(\d+)")
        while time.monotonic() < deadline:
            match = pattern.search(self.read_log())
            if match:
                self.port = int(match.group(1))
                break
            if self.proc.poll() is not None:
                break
            time.sleep(0.02)
        if self.port is None:
            self.proc.kill()
            self.proc.wait(IO_TIMEOUT)
            raise RuntimeError("hibiki did not report 'listening on http://127.0.0.1:PORT' "
                               "within %.0f s; log:\n%s" % (IO_TIMEOUT, self.tail()))

    def read_log(self):
        with open(self.log_path, "rb") as f:
            return f.read()

    def tail(self, n=30):
        return "\n".join(self.read_log().decode("utf-8", "replace").splitlines()[-n:])

    def alive(self):
        return self.proc.poll() is None

    def stop(self):
        """SIGTERM; returns (exit status or None if it hung, log tail)."""
        status = self.proc.poll()
        if status is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                status = self.proc.wait(IO_TIMEOUT)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(IO_TIMEOUT)
                status = None
        tail = self.tail()
        self.log.close()
        try:
            os.unlink(self.log_path)
        except OSError:
            pass
        return status, tail


OK = "OK"
NON_STRICT = "NON-STRICT"
FAILED = "FAILED"


class AutobahnCase(unittest.TestCase):
    """One hibiki echo server per test class; helpers that run a case like the fuzzing client
    and fail the test unless both Autobahn verdicts (behavior, behaviorClose) are OK."""

    server = None
    server_args = ()

    @classmethod
    def setUpClass(cls):
        cls.server = ServerProcess(HIBIKI_BIN, cls.server_args)

    @classmethod
    def tearDownClass(cls):
        if cls.server is None:
            return
        status, tail = cls.server.stop()
        cls.server = None
        if status != 0:
            raise AssertionError("hibiki did not exit with status 0 within %.0f s of SIGTERM "
                                 "(status %r); log tail:\n%s" % (IO_TIMEOUT, status, tail))

    def setUp(self):
        self.clients = []

    def tearDown(self):
        for client in self.clients:
            client.close()
        if self.server is not None and not self.server.alive():
            self.fail("hibiki died during this test (status %r); log tail:\n%s"
                      % (self.server.proc.returncode, self.server.tail()))

    def connect(self):
        client = WsClient(self.server.port)
        self.clients.append(client)
        return client

    # -- verdict helpers ---------------------------------------------------------------

    @staticmethod
    def _behavior(events, expected, non_strict):
        if events == expected:
            return OK
        if non_strict is not None and events == non_strict:
            return NON_STRICT
        return FAILED

    def _report(self, problems, events, expected, non_strict, close_info):
        lines = ["Autobahn verdict not OK:"]
        lines += ["  - " + p for p in problems]
        lines.append("  received events: " + describe(events))
        lines.append("  expected (OK):   " + describe(expected))
        if non_strict is not None:
            lines.append("  NON-STRICT form: " + describe(non_strict))
        lines.append("  close: " + close_info)
        self.fail("\n".join(lines))

    def run_client_closes(self, send, expected, close_codes=(CLOSE_NORMAL,), wait=KILL_AFTER,
                          non_strict=None, own_close=False, require_clean=True,
                          expect_empty_close=False, hibiki_code=None, client=None,
                          prior_events=()):
        """expectedClose closedByMe=True: we start the closing handshake.

        send(client) sends the case's frames. Unless own_close (the case sends its own close
        in send()), we wait up to `wait` s until the received events match `expected`
        (Autobahn's finishWhenDone / closeAfter), then send close 1000. Then the server must
        answer with a close frame (code in close_codes, or empty) within
        closeHandshakeTimeout and end the TCP connection within serverConnectionDropTimeout.
        """
        c = client or self.connect()
        problems = []
        events = list(prior_events)
        close_info = "not reached"
        try:
            send(c)
            if not own_close:
                deadline = time.monotonic() + scaled(wait)
                while events != expected and events == expected[:len(events)]:
                    ev = c.next_event(deadline)
                    if ev[0] in ("message", "pong"):
                        events.append(ev)
                        continue
                    if ev[0] == "close":
                        problems.append(
                            "FAILED: the server closed the connection (code %r, reason %r) "
                            "where Autobahn expects the client to close it ('The connection "
                            "was failed by the wrong endpoint')" % (ev[1], ev[2]))
                    elif ev[0] == "eof":
                        problems.append("FAILED: the server dropped the TCP connection "
                                        "before the test closed it")
                    break  # timeout: Autobahn's closeAfter fires and closes anyway
                if problems:
                    close_info = "server closed first"
                    self._report(problems, events, expected, non_strict, close_info)
                c.send_close(CLOSE_NORMAL)
            t0 = time.monotonic()
            deadline = t0 + scaled(CLOSE_HANDSHAKE_TIMEOUT)
            while True:
                ev = c.next_event(deadline)
                if ev[0] in ("message", "pong"):
                    events.append(ev)
                    continue
                break
            if ev[0] == "close":
                code = ev[1]
                close_info = "server close code %r reason %r after %.3f s" % (
                    code, ev[2], time.monotonic() - t0)
                if code is not None and code not in close_codes:
                    problems.append("WRONG CODE: close code %r, Autobahn accepts %s or empty"
                                    % (code, "/".join(map(str, close_codes))))
                if expect_empty_close and code is not None:
                    problems.append("hibiki contract: an empty close must be answered with an "
                                    "empty close, got code %r" % code)
                if not expect_empty_close and code is None:
                    problems.append("hibiki contract: expected the close code echoed, got an "
                                    "empty close frame")
                if hibiki_code is not None and code != hibiki_code:
                    problems.append("hibiki contract: expected close code %d, got %r"
                                    % (hibiki_code, code))
                if not c.wait_eof(scaled(SERVER_DROP_TIMEOUT)):
                    problems.append(
                        "%s: the server did not end the TCP connection within %.1f s after the "
                        "close handshake (Autobahn: 'server did not drop TCP connection in "
                        "time', dropped by client)" % ("UNCLEAN" if require_clean else
                                                        "FAILED BY CLIENT",
                                                        scaled(SERVER_DROP_TIMEOUT)))
            elif ev[0] == "eof":
                close_info = "TCP connection ended without a close frame"
                if require_clean:
                    problems.append("UNCLEAN: the server dropped TCP instead of answering our "
                                    "close frame")
                else:
                    problems.append("hibiki contract: the server must answer with a close frame "
                                    "(Autobahn itself would accept the TCP drop here)")
            else:
                close_info = "no answer"
                problems.append("FAILED: no close frame from the server within %.1f s of ours "
                                "(closeHandshakeTimeout)" % scaled(CLOSE_HANDSHAKE_TIMEOUT))
        except ServerViolation as err:
            problems.append("FAILED: protocol violation by the server: %s" % err)
        behavior = self._behavior(events, expected, non_strict)
        if behavior != OK:
            problems.insert(0, "%s: received events differ from the expected ones" % behavior)
        if problems:
            self._report(problems, events, expected, non_strict, close_info)
        return c, events

    def run_server_fails(self, send, expected=(), codes=(CLOSE_PROTOCOL_ERROR,), non_strict=None,
                         kill_after=KILL_AFTER, hibiki_code=None, client=None, closed_by_me=False):
        """expectedClose closedByMe=False: the server must fail the connection.

        send(client) sends the case's frames (sends may fail once the server has closed).
        Within killAfter the server must send a close frame with a code in `codes` (hibiki's
        contract: the first of them unless hibiki_code says otherwise); the events received
        before it are compared with `expected` / `non_strict`; we answer with close 1000 like
        Autobahn and the server must then end the TCP connection.
        With closed_by_me=True (cases 7.*: we sent a bad close frame) the server's close is
        the reply to ours.
        """
        expected = list(expected)
        c = client or self.connect()
        problems = []
        events = []
        close_info = "not reached"
        t0 = time.monotonic()
        try:
            send(c)
            deadline = t0 + scaled(kill_after)
            while True:
                ev = c.next_event(deadline)
                if ev[0] in ("message", "pong"):
                    events.append(ev)
                    continue
                break
            elapsed = time.monotonic() - t0
            if ev[0] == "close":
                code = ev[1]
                close_info = "server close code %r reason %r after %.3f s" % (code, ev[2], elapsed)
                want = hibiki_code if hibiki_code is not None else codes[0]
                if code is not None and code not in codes:
                    problems.append("WRONG CODE: close code %r, Autobahn accepts %s or empty"
                                    % (code, "/".join(map(str, codes))))
                elif code != want:
                    problems.append("hibiki contract: expected close code %d, got %r"
                                    % (want, code))
                if not closed_by_me:
                    c.send_close(CLOSE_NORMAL)  # Autobahn answers the server's close
                if not c.wait_eof(scaled(SERVER_DROP_TIMEOUT)):
                    problems.append("FAILED BY CLIENT: the server did not end the TCP connection "
                                    "within %.1f s after the close frames"
                                    % scaled(SERVER_DROP_TIMEOUT))
            elif ev[0] == "eof":
                close_info = "TCP connection ended without a close frame after %.3f s" % elapsed
                problems.append("hibiki contract: expected a close frame with code %d before the "
                                "TCP connection ends (Autobahn would accept the bare drop)"
                                % (hibiki_code or codes[0]))
            else:
                close_info = "still open after %.1f s" % scaled(kill_after)
                problems.append(
                    "FAILED: the server did not fail the connection within %.1f s (Autobahn's "
                    "killAfter; the client would then close with 1001: 'failed by the wrong "
                    "endpoint')" % scaled(kill_after))
        except ServerViolation as err:
            problems.append("FAILED: protocol violation by the server: %s" % err)
        behavior = self._behavior(events, expected, non_strict)
        if behavior != OK:
            problems.insert(0, "%s: received events differ from the expected ones" % behavior)
        if problems:
            self._report(problems, events, expected, non_strict, close_info)
        return c, events

    def echo_case(self, opcode, payload, wait=KILL_AFTER, **send_kw):
        payload = payload.encode("utf-8") if isinstance(payload, str) else payload
        self.run_client_closes(lambda c: c.send_frame(opcode, payload, **send_kw),
                               [msg(payload, opcode == OP_BINARY)], wait=wait)


def msg(payload, binary=False):
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    return ("message", payload, binary)


def pong(payload=b""):
    if isinstance(payload, str):
        payload = payload.encode("utf-8")
    return ("pong", payload)


HELLO = b"Hello, world!"
BIN8 = b"\x00\xff\xfe\xfd\xfc\xfb\x00\xff"
KOSME = b"\xce\xba\xe1\xbd\xb9\xcf\x83\xce\xbc\xce\xb5"
HELLO_UTF8 = "Hello-\u00b5@\u00df\u00f6\u00e4\u00fc\u00e0\u00e1-UTF-8!!".encode("utf-8")
INVALID_6_3 = KOSME + b"\xed\xa0\x80" + b"edited"


# --------------------------------------------------------------------------------------
# 1.* Framing
# --------------------------------------------------------------------------------------


class Case1Framing(AutobahnCase):
    """1.1.* text and 1.2.* binary messages of lengths around the 7/16/64-bit boundaries."""

    LENGTHS = [0, 125, 126, 127, 128, 65535, 65536]

    def test_1_1_1_to_1_1_7_text(self):
        for i, n in enumerate(self.LENGTHS, 1):
            with self.subTest(case="1.1.%d" % i, length=n):
                self.echo_case(OP_TEXT, b"*" * n)

    def test_1_1_8_text_65536_in_997_byte_chops(self):
        self.echo_case(OP_TEXT, b"*" * 65536, wait=10, chopsize=997)

    def test_1_2_1_to_1_2_7_binary(self):
        for i, n in enumerate(self.LENGTHS, 1):
            with self.subTest(case="1.2.%d" % i, length=n):
                self.echo_case(OP_BINARY, b"\xfe" * n)

    def test_1_2_8_binary_65536_in_997_byte_chops(self):
        self.echo_case(OP_BINARY, b"\xfe" * 65536, wait=10, chopsize=997)


# --------------------------------------------------------------------------------------
# 2.* Pings / Pongs
# --------------------------------------------------------------------------------------


class Case2PingPong(AutobahnCase):
    def ping_case(self, payload, **kw):
        self.run_client_closes(lambda c: c.send_frame(OP_PING, payload, **kw), [pong(payload)])

    def test_2_1_ping_without_payload(self):
        self.ping_case(b"")

    def test_2_2_ping_small_text_payload(self):
        self.ping_case(HELLO)

    def test_2_3_ping_small_binary_payload(self):
        self.ping_case(BIN8)

    def test_2_4_ping_binary_payload_125(self):
        self.ping_case(b"\xfe" * 125)

    def test_2_5_ping_binary_payload_126_is_protocol_error(self):
        self.run_server_fails(lambda c: c.send_frame(OP_PING, b"\xfe" * 126))

    def test_2_6_ping_125_octet_wise_chops(self):
        self.ping_case(b"\xfe" * 125, chopsize=1)

    def test_2_6b_ping_125_octet_wise_chops_with_delays(self):
        # Not in Autobahn: 1 ms between the 1-byte writes, so the server really sees
        # 131 separate reads of one frame.
        self.ping_case(b"\xfe" * 125, chopsize=1, delay=0.001)

    def test_2_7_unsolicited_pong_without_payload(self):
        self.run_client_closes(lambda c: c.send_frame(OP_PONG), [])

    def test_2_8_unsolicited_pong_with_payload(self):
        self.run_client_closes(lambda c: c.send_frame(OP_PONG, b"unsolicited pong payload"), [])

    def test_2_9_unsolicited_pong_then_ping(self):
        def send(c):
            c.send_frame(OP_PONG, b"unsolicited pong payload")
            c.send_frame(OP_PING, b"ping payload")
        self.run_client_closes(send, [pong(b"ping payload")])

    def ten_pings(self, chopsize):
        payloads = [("payload-%d" % i).encode() for i in range(10)]

        def send(c):
            for p in payloads:
                c.send_frame(OP_PING, p, chopsize=chopsize)
        self.run_client_closes(send, [pong(p) for p in payloads], wait=3)

    def test_2_10_ten_pings(self):
        self.ten_pings(None)

    def test_2_11_ten_pings_octet_wise_chops(self):
        self.ten_pings(1)


# --------------------------------------------------------------------------------------
# 3.* Reserved bits
# --------------------------------------------------------------------------------------


class Case3ReservedBits(AutobahnCase):
    def test_3_1_text_rsv1(self):
        self.run_server_fails(lambda c: c.send_frame(OP_TEXT, HELLO, rsv=1))

    def echo_then_bad(self, rsv, **kw):
        def send(c):
            c.send_frame(OP_TEXT, HELLO, **kw)
            c.send_frame(OP_TEXT, HELLO, rsv=rsv, **kw)
            c.send_frame(OP_PING, **kw)
        # OK: the first message is echoed before the failure; NON-STRICT: nothing at all.
        self.run_server_fails(send, [msg(HELLO)], non_strict=[])

    def test_3_2_text_then_rsv2_then_ping(self):
        self.echo_then_bad(2)

    def test_3_3_rsv3_frame_wise(self):
        self.echo_then_bad(3, sync=True)

    def test_3_4_rsv4_octet_wise(self):
        self.echo_then_bad(4, chopsize=1)

    def test_3_5_binary_rsv5(self):
        self.run_server_fails(lambda c: c.send_frame(OP_BINARY, BIN8, rsv=5))

    def test_3_6_ping_rsv6(self):
        self.run_server_fails(lambda c: c.send_frame(OP_PING, b"ping payload", rsv=6))

    def test_3_7_close_rsv7(self):
        self.run_server_fails(lambda c: c.send_frame(OP_CLOSE, rsv=7))


# --------------------------------------------------------------------------------------
# 4.* Opcodes
# --------------------------------------------------------------------------------------


class Case4Opcodes(AutobahnCase):
    def bare(self, opcode, payload=b""):
        self.run_server_fails(lambda c: c.send_frame(opcode, payload))

    def after_text(self, opcode, payload=b""):
        def send(c):
            c.send_frame(OP_TEXT, HELLO)
            c.send_frame(opcode, payload)
            c.send_frame(OP_PING)
        self.run_server_fails(send, [msg(HELLO)], non_strict=[])

    def test_4_1_1_opcode_3(self):
        self.bare(3)

    def test_4_1_2_opcode_4_with_payload(self):
        self.bare(4, b"reserved opcode payload")

    def test_4_1_3_text_opcode_5_ping(self):
        self.after_text(5)

    def test_4_1_4_text_opcode_6_with_payload_ping(self):
        self.after_text(6, b"reserved opcode payload")

    def test_4_1_5_text_opcode_7_with_payload_ping(self):
        self.after_text(7, b"reserved opcode payload")

    def test_4_2_1_opcode_11(self):
        self.bare(11)

    def test_4_2_2_opcode_12_with_payload(self):
        self.bare(12, b"reserved opcode payload")

    def test_4_2_3_text_opcode_13_ping(self):
        self.after_text(13)

    def test_4_2_4_text_opcode_14_with_payload_ping(self):
        self.after_text(14, b"reserved opcode payload")

    def test_4_2_5_text_opcode_15_with_payload_ping(self):
        self.after_text(15, b"reserved opcode payload")


# --------------------------------------------------------------------------------------
# 5.* Fragmentation
# --------------------------------------------------------------------------------------


class Case5Fragmentation(AutobahnCase):
    def test_5_1_fragmented_ping(self):
        def send(c):
            c.send_frame(OP_PING, b"fragment1", fin=False)
            c.send_frame(OP_CONT, b"fragment2", fin=True)
        self.run_server_fails(send)

    def test_5_2_fragmented_pong(self):
        def send(c):
            c.send_frame(OP_PONG, b"fragment1", fin=False)
            c.send_frame(OP_CONT, b"fragment2", fin=True)
        self.run_server_fails(send)

    def two_fragments(self, **kw):
        def send(c):
            c.send_frame(OP_TEXT, b"fragment1", fin=False, **kw)
            c.send_frame(OP_CONT, b"fragment2", fin=True, **kw)
        self.run_client_closes(send, [msg(b"fragment1fragment2")])

    def test_5_3_text_two_fragments(self):
        self.two_fragments()

    def test_5_4_text_two_fragments_frame_wise(self):
        self.two_fragments(sync=True)

    def test_5_5_text_two_fragments_octet_wise(self):
        self.two_fragments(chopsize=1)

    def ping_between(self, **kw):
        def send(c):
            c.send_frame(OP_TEXT, b"fragment1", fin=False, **kw)
            c.send_frame(OP_PING, b"ping payload", **kw)
            c.send_frame(OP_CONT, b"fragment2", fin=True, **kw)
        self.run_client_closes(send, [pong(b"ping payload"), msg(b"fragment1fragment2")])

    def test_5_6_ping_between_fragments(self):
        self.ping_between()

    def test_5_7_ping_between_fragments_frame_wise(self):
        self.ping_between(sync=True)

    def test_5_8_ping_between_fragments_octet_wise(self):
        self.ping_between(chopsize=1)

    def nothing_to_continue(self, fin, **kw):
        def send(c):
            c.send_frame(OP_CONT, b"non-continuation payload", fin=fin, **kw)
            c.send_frame(OP_TEXT, HELLO, **kw)
        self.run_server_fails(send)

    def test_5_9_continuation_fin_true_nothing_to_continue(self):
        self.nothing_to_continue(True)

    def test_5_10_continuation_fin_true_frame_wise(self):
        self.nothing_to_continue(True, sync=True)

    def test_5_11_continuation_fin_true_octet_wise(self):
        self.nothing_to_continue(True, chopsize=1)

    def test_5_12_continuation_fin_false_nothing_to_continue(self):
        self.nothing_to_continue(False)

    def test_5_13_continuation_fin_false_frame_wise(self):
        self.nothing_to_continue(False, sync=True)

    def test_5_14_continuation_fin_false_octet_wise(self):
        self.nothing_to_continue(False, chopsize=1)

    def test_5_15_message_then_stray_continuation(self):
        def send(c):
            c.send_frame(OP_TEXT, b"fragment1", fin=False)
            c.send_frame(OP_CONT, b"fragment2", fin=True)
            c.send_frame(OP_CONT, b"fragment3", fin=False)
            c.send_frame(OP_TEXT, b"fragment4", fin=True)
        self.run_server_fails(send, [msg(b"fragment1fragment2")], non_strict=[])

    def stray_then_message(self, first_fin):
        def send(c):
            for _ in range(2):
                c.send_frame(OP_CONT, b"fragment1", fin=first_fin)
                c.send_frame(OP_TEXT, b"fragment2", fin=False)
                c.send_frame(OP_CONT, b"fragment3", fin=True)
        self.run_server_fails(send)

    def test_5_16_stray_continuation_fin_false_then_message_2x(self):
        self.stray_then_message(False)

    def test_5_17_stray_continuation_fin_true_then_message_2x(self):
        self.stray_then_message(True)

    def test_5_18_two_fragments_both_text_opcode(self):
        def send(c):
            c.send_frame(OP_TEXT, b"fragment1", fin=False)
            c.send_frame(OP_TEXT, b"fragment2", fin=True)
        self.run_server_fails(send)

    def slow_fragments(self, sync):
        fragments = [b"fragment1", b"fragment2", b"fragment3", b"fragment4", b"fragment5"]
        pings = [b"pongme 1!", b"pongme 2!"]
        c = self.connect()
        c.send_frame(OP_TEXT, fragments[0], fin=False, sync=sync)
        c.send_frame(OP_CONT, fragments[1], fin=False, sync=sync)
        c.send_frame(OP_PING, pings[0], sync=sync)
        # Autobahn: continueLater(1, part2); what arrives meanwhile counts as received.
        prior = []
        deadline = time.monotonic() + 1.0
        while True:
            ev = c.next_event(deadline)
            if ev[0] in ("message", "pong"):
                prior.append(ev)
                continue
            if ev[0] != "timeout":
                self.fail("FAILED: the server ended the connection in the middle of a legal "
                          "fragmented message: %r (events so far %s)" % (ev, describe(prior)))
            break
        # Stricter than Autobahn, which only compares the final list: hibiki answers a Ping
        # at once, not when the surrounding message completes.
        self.assertEqual(prior, [pong(pings[0])],
                         "hibiki contract: the Ping between fragments must be answered at once "
                         "(before the rest of the message is sent); within 1 s got %s"
                         % describe(prior))

        def part2(c):
            c.send_frame(OP_CONT, fragments[2], fin=False, sync=sync)
            c.send_frame(OP_CONT, fragments[3], fin=False, sync=sync)
            c.send_frame(OP_PING, pings[1], sync=sync)
            c.send_frame(OP_CONT, fragments[4], fin=True, sync=sync)
        self.run_client_closes(part2, [pong(pings[0]), pong(pings[1]),
                                       msg(b"".join(fragments))], client=c, prior_events=prior)

    def test_5_19_slow_fragments_with_pings(self):
        self.slow_fragments(False)

    def test_5_20_slow_fragments_with_pings_frame_wise(self):
        self.slow_fragments(True)


# --------------------------------------------------------------------------------------
# 6.* UTF-8 handling
# --------------------------------------------------------------------------------------


def utf8_test_sequences():
    """Autobahn's createUtf8TestSequences() (case6_x_x.py), in order: cases 6.5 - 6.23."""
    groups = []
    vs = [(True, b"hello\x24world"), (True, b"hello\xc2\xa2world"),
          (True, b"hello\xe2\x82\xacworld"), (True, b"hello\xf0\xa4\xad\xa2world"), (True, KOSME)]
    groups.append(("Some valid UTF-8 sequences", vs))

    def valid(b):
        try:
            b.decode("utf-8")
            return True
        except UnicodeDecodeError:
            return False
    groups.append(("All prefixes of a valid UTF-8 string that contains multi-byte code points",
                   [(valid(KOSME[:i]), KOSME[:i]) for i in range(1, len(KOSME) + 1)]))
    groups.append(("First possible sequence of a certain length",
                   [(True, b"\x00"), (True, b"\xc2\x80"), (True, b"\xe0\xa0\x80"),
                    (True, b"\xf0\x90\x80\x80")]))
    groups.append(("First possible sequence length 5/6 (invalid codepoints)",
                   [(False, b"\xf8\x88\x80\x80\x80"), (False, b"\xfc\x84\x80\x80\x80\x80")]))
    groups.append(("Last possible sequence of a certain length",
                   [(True, b"\x7f"), (True, b"\xdf\xbf"), (True, b"\xef\xbf\xbf"),
                    (True, b"\xf4\x8f\xbf\xbf")]))
    groups.append(("Last possible sequence length 4/5/6 (invalid codepoints)",
                   [(False, b"\xf7\xbf\xbf\xbf"), (False, b"\xfb\xbf\xbf\xbf\xbf"),
                    (False, b"\xfd\xbf\xbf\xbf\xbf\xbf")]))
    groups.append(("Other boundary conditions",
                   [(True, b"\xed\x9f\xbf"), (True, b"\xee\x80\x80"), (True, b"\xef\xbf\xbd"),
                    (True, b"\xf4\x8f\xbf\xbf"), (False, b"\xf4\x90\x80\x80")]))
    groups.append(("Unexpected continuation bytes",
                   [(False, b"\x80"), (False, b"\xbf"), (False, b"\x80\xbf"),
                    (False, b"\x80\xbf\x80"), (False, b"\x80\xbf\x80\xbf"),
                    (False, b"\x80\xbf\x80\xbf\x80"), (False, b"\x80\xbf\x80\xbf\x80\xbf"),
                    (False, bytes(range(0x80, 0xbf)))]))
    lonely = []
    for lo, hi in [(0xc0, 0xdf), (0xe0, 0xef), (0xf0, 0xf7), (0xf8, 0xfb), (0xfc, 0xfd)]:
        lonely.append((False, b"".join(bytes([i, 0x20]) for i in range(lo, hi))))
    groups.append(("Lonely start characters", lonely))
    k = [b"\xc0", b"\xe0\x80", b"\xf0\x80\x80", b"\xf8\x80\x80\x80", b"\xfc\x80\x80\x80\x80",
         b"\xdf", b"\xef\xbf", b"\xf7\xbf\xbf", b"\xfb\xbf\xbf\xbf", b"\xfd\xbf\xbf\xbf\xbf"]
    groups.append(("Sequences with last continuation byte missing", [(False, x) for x in k]))
    groups.append(("Concatenation of incomplete sequences", [(False, b"".join(k))]))
    groups.append(("Impossible bytes",
                   [(False, b"\xfe"), (False, b"\xff"), (False, b"\xfe\xfe\xff\xff")]))
    groups.append(("Examples of an overlong ASCII character",
                   [(False, b"\xc0\xaf"), (False, b"\xe0\x80\xaf"), (False, b"\xf0\x80\x80\xaf"),
                    (False, b"\xf8\x80\x80\x80\xaf"), (False, b"\xfc\x80\x80\x80\x80\xaf")]))
    groups.append(("Maximum overlong sequences",
                   [(False, b"\xc1\xbf"), (False, b"\xe0\x9f\xbf"), (False, b"\xf0\x8f\xbf\xbf"),
                    (False, b"\xf8\x87\xbf\xbf\xbf"), (False, b"\xfc\x83\xbf\xbf\xbf\xbf")]))
    groups.append(("Overlong representation of the NUL character",
                   [(False, b"\xc0\x80"), (False, b"\xe0\x80\x80"), (False, b"\xf0\x80\x80\x80"),
                    (False, b"\xf8\x80\x80\x80\x80"), (False, b"\xfc\x80\x80\x80\x80\x80")]))
    groups.append(("Single UTF-16 surrogates",
                   [(False, b"\xed\xa0\x80"), (False, b"\xed\xad\xbf"), (False, b"\xed\xae\x80"),
                    (False, b"\xed\xaf\xbf"), (False, b"\xed\xb0\x80"), (False, b"\xed\xbe\x80"),
                    (False, b"\xed\xbf\xbf")]))
    groups.append(("Paired UTF-16 surrogates",
                   [(False, b"\xed\xa0\x80\xed\xb0\x80"), (False, b"\xed\xa0\x80\xed\xbf\xbf"),
                    (False, b"\xed\xad\xbf\xed\xb0\x80"), (False, b"\xed\xad\xbf\xed\xbf\xbf"),
                    (False, b"\xed\xae\x80\xed\xb0\x80"), (False, b"\xed\xae\x80\xed\xbf\xbf"),
                    (False, b"\xed\xaf\xbf\xed\xb0\x80"), (False, b"\xed\xaf\xbf\xed\xbf\xbf")]))
    nonchar = [(True, b"\xef\xbf\xbe"), (True, b"\xef\xbf\xbf")]
    for z1 in [0xf0, 0xf1, 0xf2, 0xf3, 0xf4]:
        for z2 in [0x8f, 0x9f, 0xaf, 0xbf]:
            if not (z1 == 0xf4 and z2 != 0x8f):
                for z3 in [0xbe, 0xbf]:
                    zz = bytes([z1, z2, 0xbf, z3])
                    if zz not in (b"\xf0\x8f\xbf\xbe", b"\xf0\x8f\xbf\xbf"):
                        nonchar.append((True, zz))
    groups.append(("Non-character code points (valid UTF-8)", nonchar))
    groups.append(("Unicode specials (i.e. replacement char)",
                   [(True, b"\xef\xbf\xb9"), (True, b"\xef\xbf\xba"), (True, b"\xef\xbf\xbb"),
                    (True, b"\xef\xbf\xbc"), (True, b"\xef\xbf\xbd"), (True, b"\xef\xbf\xbe"),
                    (True, b"\xef\xbf\xbf")]))
    return groups


class Case6Utf8(AutobahnCase):
    def test_6_1_1_empty_text(self):
        self.echo_case(OP_TEXT, b"")

    def test_6_1_2_three_empty_fragments(self):
        def send(c):
            c.send_frame(OP_TEXT, b"", fin=False)
            c.send_frame(OP_CONT, b"", fin=False)
            c.send_frame(OP_CONT, b"", fin=True)
        self.run_client_closes(send, [msg(b"")])

    def test_6_1_3_empty_fragments_around_payload(self):
        def send(c):
            c.send_frame(OP_TEXT, b"", fin=False)
            c.send_frame(OP_CONT, b"middle frame payload", fin=False)
            c.send_frame(OP_CONT, b"", fin=True)
        self.run_client_closes(send, [msg(b"middle frame payload")])

    def test_6_2_1_valid_utf8_one_frame(self):
        self.echo_case(OP_TEXT, HELLO_UTF8)

    def test_6_2_2_valid_utf8_two_fragments_on_code_point_boundary(self):
        part1 = "Hello-\u00b5@\u00df\u00f6\u00e4".encode("utf-8")
        part2 = "\u00fc\u00e0\u00e1-UTF-8!!".encode("utf-8")

        def send(c):
            c.send_frame(OP_TEXT, part1, fin=False)
            c.send_frame(OP_CONT, part2, fin=True)
        self.run_client_closes(send, [msg(part1 + part2)])

    def test_6_2_3_valid_utf8_one_octet_fragments(self):
        self.run_client_closes(lambda c: c.send_message(OP_TEXT, HELLO_UTF8, frag_size=1),
                               [msg(HELLO_UTF8)])

    def test_6_2_4_kosme_one_octet_fragments(self):
        self.run_client_closes(lambda c: c.send_message(OP_TEXT, KOSME, frag_size=1),
                               [msg(KOSME)])

    def test_6_3_1_invalid_utf8_one_frame(self):
        self.run_server_fails(lambda c: c.send_frame(OP_TEXT, INVALID_6_3),
                              codes=(CLOSE_INVALID_PAYLOAD,))

    def test_6_3_2_invalid_utf8_one_octet_fragments(self):
        self.run_server_fails(lambda c: c.send_message(OP_TEXT, INVALID_6_3, frag_size=1),
                              codes=(CLOSE_INVALID_PAYLOAD,))

    # 6.4.*: fail fast. PAYLOAD = kosme + f4 90 80 80 (0x110000, invalid at the 0x90) + "edited"
    FF_PAYLOAD = KOSME + b"\xf4\x90\x80\x80" + b"\x65\x64\x69\x74\x65\x64"

    def fail_fast(self, parts, as_chops):
        """Part 1 valid, wait 1 s (the server must stay open: Autobahn's timeout "A"), part 2
        makes it invalid, wait 1 s: OK if the server closed with 1007 by then; if it closes
        only after part 3 (the end of the message) it is NON-STRICT; otherwise FAILED."""
        c = self.connect()
        total = sum(len(p) for p in parts)
        key = os.urandom(4)
        masked = mask_bytes(key, b"".join(parts))
        offsets = [0]
        for p in parts:
            offsets.append(offsets[-1] + len(p))

        def send_part(i):
            if as_chops:  # one frame, its payload sent in three TCP writes
                data = masked[offsets[i]:offsets[i + 1]]
                if i == 0:
                    data = build_frame(OP_TEXT, b"", declared_len=total, mask_key=key,
                                       masked=True) + data
                c.send_raw(data)
            else:
                c.send_frame(OP_TEXT if i == 0 else OP_CONT, parts[i], fin=(i == 2))

        def wait_for_close(seconds):
            deadline = time.monotonic() + seconds
            seen = []
            while True:
                ev = c.next_event(deadline)
                if ev[0] in ("message", "pong"):
                    seen.append(ev)
                    continue
                return ev, seen

        send_part(0)
        ev, seen = wait_for_close(scaled(FAIL_FAST_WAIT))
        if ev[0] != "timeout" or seen:
            self.fail("FAILED: after the first, valid part the server must keep the connection "
                      "open; got %r (events %s)" % (ev, describe(seen)))
        send_part(1)
        t0 = time.monotonic()
        ev, seen = wait_for_close(scaled(FAIL_FAST_WAIT))
        verdict = OK
        if ev[0] == "timeout":
            verdict = NON_STRICT
            send_part(2)
            ev, seen2 = wait_for_close(scaled(KILL_AFTER))
            seen += seen2
            if ev[0] == "timeout":
                self.fail("FAILED: no close within %.1f s even after the whole invalid message "
                          "was sent" % scaled(KILL_AFTER))
        if seen:
            self.fail("FAILED: unexpected events %s" % describe(seen))
        if ev[0] != "close":
            self.fail("hibiki contract: expected close 1007, the TCP connection just ended (%r)"
                      % (ev,))
        self.assertEqual(ev[1], CLOSE_INVALID_PAYLOAD,
                         "WRONG CODE: close code %r, expected 1007" % (ev[1],))
        if verdict != OK:
            self.fail("NON-STRICT: the server did not fail fast: no close within %.1f s of the "
                      "part holding the invalid byte sequence; it closed (1007) only after the "
                      "last part of the message" % scaled(FAIL_FAST_WAIT))
        close_after = time.monotonic() - t0
        c.send_close(CLOSE_NORMAL)
        self.assertTrue(c.wait_eof(scaled(SERVER_DROP_TIMEOUT)),
                        "FAILED BY CLIENT: no EOF after the close frames (close came %.3f s after "
                        "part 2)" % close_after)

    def test_6_4_1_fail_fast_three_frames(self):
        p = self.FF_PAYLOAD
        self.fail_fast([p[:11], p[11:15], p[15:]], as_chops=False)

    def test_6_4_2_fail_fast_three_frames_invalid_octet_alone(self):
        p = self.FF_PAYLOAD
        self.fail_fast([p[:12], p[12:13], p[13:]], as_chops=False)

    def test_6_4_3_fail_fast_three_chops_of_one_frame(self):
        p = self.FF_PAYLOAD
        self.fail_fast([p[:11], p[11:15], p[15:]], as_chops=True)

    def test_6_4_4_fail_fast_three_chops_invalid_octet_alone(self):
        p = self.FF_PAYLOAD
        self.fail_fast([p[:12], p[12:13], p[13:]], as_chops=True)

    def utf8_vector(self, valid, payload):
        if valid:
            self.echo_case(OP_TEXT, payload)
        else:
            self.run_server_fails(lambda c: c.send_frame(OP_TEXT, payload),
                                  codes=(CLOSE_INVALID_PAYLOAD,), kill_after=KILL_AFTER_6X)


def _add_utf8_vector_tests():
    for gi, (title, vectors) in enumerate(utf8_test_sequences(), 5):
        for vi, (valid, payload) in enumerate(vectors, 1):
            def test(self, valid=valid, payload=payload):
                self.utf8_vector(valid, payload)
            name = "test_6_%d_%d_%s" % (gi, vi, "valid" if valid else "invalid")
            test.__name__ = name
            test.__doc__ = "6.%d.%d %s: %s payload %s" % (gi, vi, title, "valid" if valid else
                                                          "invalid", payload.hex())
            setattr(Case6Utf8, name, test)


_add_utf8_vector_tests()


# --------------------------------------------------------------------------------------
# 7.* Close handling
# --------------------------------------------------------------------------------------


class Case7Close(AutobahnCase):
    def test_7_1_1_message_then_close(self):
        def send(c):
            c.send_frame(OP_TEXT, b"Hello World!")
            c.send_close(CLOSE_NORMAL)
        self.run_client_closes(send, [msg(b"Hello World!")], own_close=True,
                               hibiki_code=CLOSE_NORMAL)

    def test_7_1_2_close_twice(self):
        def send(c):
            c.send_close(CLOSE_NORMAL)
            c.send_close(CLOSE_NORMAL)
        self.run_client_closes(send, [], own_close=True, hibiki_code=CLOSE_NORMAL)

    def test_7_1_3_ping_after_close(self):
        def send(c):
            c.send_close(CLOSE_NORMAL)
            c.send_frame(OP_PING)
        self.run_client_closes(send, [], own_close=True, hibiki_code=CLOSE_NORMAL)

    def test_7_1_4_text_after_close(self):
        def send(c):
            c.send_close(CLOSE_NORMAL)
            c.send_frame(OP_TEXT, b"Hello World!")
        self.run_client_closes(send, [], own_close=True, hibiki_code=CLOSE_NORMAL)

    def test_7_1_5_fragment_close_fragment(self):
        def send(c):
            c.send_frame(OP_TEXT, b"fragment1", fin=False)
            c.send_close(CLOSE_NORMAL)
            c.send_frame(OP_CONT, b"fragment2", fin=True)
        self.run_client_closes(send, [], own_close=True, hibiki_code=CLOSE_NORMAL)

    def test_7_1_6_big_message_then_close_then_ping(self):
        # INFORMATIONAL in Autobahn (OK: both echoes before the close reply; NON-STRICT:
        # the close overtook them). Whatever the order, the close must be clean.
        big = repeat_to(b"BAsd7&jh23", 256 * 1024)

        def send(c):
            c.send_frame(OP_TEXT, big)
            c.send_frame(OP_TEXT, b"Hello World!")
            c.send_close(CLOSE_NORMAL)
            c.send_frame(OP_PING)
        full = [msg(big), msg(b"Hello World!")]
        c = self.connect()
        send(c)
        events = []
        deadline = time.monotonic() + 10
        while True:
            ev = c.next_event(deadline)
            if ev[0] in ("message", "pong"):
                events.append(ev)
                continue
            break
        self.assertEqual(ev[:2], ("close", CLOSE_NORMAL), "7.1.6: expected close 1000, got %r" %
                         (ev,))
        self.assertEqual(events, full[:len(events)],
                         "7.1.6: echoes must be in order and no pong after the close: %s"
                         % describe(events))
        self.assertTrue(c.wait_eof(scaled(SERVER_DROP_TIMEOUT)), "7.1.6: no EOF after close")
        if events != full:
            print("\n  note 7.1.6 (informational): %d of 2 echoes arrived before the close reply"
                  % len(events))

    def test_7_3_1_empty_close(self):
        self.run_client_closes(lambda c: c.send_frame(OP_CLOSE), [], own_close=True,
                               expect_empty_close=True)

    def test_7_3_2_close_payload_one_byte(self):
        self.run_server_fails(lambda c: c.send_frame(OP_CLOSE, b"*"), closed_by_me=True)

    def test_7_3_3_close_code_only(self):
        self.run_client_closes(lambda c: c.send_close(CLOSE_NORMAL), [], own_close=True,
                               hibiki_code=CLOSE_NORMAL)

    def test_7_3_4_close_code_and_reason(self):
        self.run_client_closes(lambda c: c.send_close(CLOSE_NORMAL, b"Hello World!"), [],
                               own_close=True, hibiki_code=CLOSE_NORMAL)

    def test_7_3_5_close_reason_123_bytes(self):
        self.run_client_closes(lambda c: c.send_close(CLOSE_NORMAL, b"*" * 123), [],
                               own_close=True, hibiki_code=CLOSE_NORMAL)

    def test_7_3_6_close_reason_124_bytes_too_long(self):
        self.run_server_fails(lambda c: c.send_close(CLOSE_NORMAL, b"*" * 124), closed_by_me=True)

    def test_7_5_1_close_reason_invalid_utf8(self):
        # Autobahn accepts 1002 or 1007; hibiki's contract is 1007.
        self.run_server_fails(lambda c: c.send_close(CLOSE_NORMAL, INVALID_6_3),
                              codes=(CLOSE_PROTOCOL_ERROR, CLOSE_INVALID_PAYLOAD),
                              hibiki_code=CLOSE_INVALID_PAYLOAD, closed_by_me=True)

    # 7.7.*: valid codes: Autobahn accepts 1000 or the echoed code; hibiki echoes.
    VALID_CODES = [1000, 1001, 1002, 1003, 1007, 1008, 1009, 1010, 1011, 3000, 3999, 4000, 4999]
    # 7.9.*: invalid codes: Autobahn expects 1002 (or a TCP drop).
    INVALID_CODES = [0, 999, 1004, 1005, 1006, 1016, 1100, 2000, 2999]

    def valid_code(self, code):
        self.run_client_closes(lambda c: c.send_close(code), [], own_close=True,
                               close_codes=(CLOSE_NORMAL, code), hibiki_code=code)

    def invalid_code(self, code):
        self.run_server_fails(lambda c: c.send_close(code), closed_by_me=True)

    def test_7_13_1_close_code_5000(self):
        # INFORMATIONAL in Autobahn (1000, 5000 or 1002 accepted); hibiki: 1002.
        self.run_server_fails(lambda c: c.send_close(5000), closed_by_me=True,
                              codes=(CLOSE_PROTOCOL_ERROR, CLOSE_NORMAL))

    def test_7_13_2_close_code_65535(self):
        self.run_server_fails(lambda c: c.send_close(65535), closed_by_me=True,
                              codes=(CLOSE_PROTOCOL_ERROR, CLOSE_NORMAL))

    def test_7_x_extended_close_code_walk(self):
        # Beyond Autobahn's list: every boundary of the valid / invalid ranges.
        valid = [1012, 1013, 1014, 3001, 4001]
        invalid = [1, 100, 998, 1015, 1017, 1999, 2001, 2998, 5001, 6000, 32768, 65534]
        for code in valid:
            with self.subTest(code=code, expect="echo"):
                self.valid_code(code)
        for code in invalid:
            with self.subTest(code=code, expect=1002):
                self.invalid_code(code)


def _add_close_code_tests():
    for i, code in enumerate(Case7Close.VALID_CODES, 1):
        def test(self, code=code):
            self.valid_code(code)
        test.__name__ = "test_7_7_%d_valid_close_code_%d" % (i, code)
        setattr(Case7Close, test.__name__, test)
    for i, code in enumerate(Case7Close.INVALID_CODES, 1):
        def test(self, code=code):
            self.invalid_code(code)
        test.__name__ = "test_7_9_%d_invalid_close_code_%d" % (i, code)
        setattr(Case7Close, test.__name__, test)


_add_close_code_tests()


# --------------------------------------------------------------------------------------
# 9.* Limits / performance (reduced counts; no timing assertions, only generous timeouts)
# --------------------------------------------------------------------------------------

TEXT_PATTERN = b"BAsd7&jh23"
BINARY_PATTERN = b"\x00\xfe\x23\xfa\xf0"
KiB = 1024
MiB = 1024 * 1024


class Case9Limits(AutobahnCase):
    """Autobahn's 9.* with smaller counts where it costs time. Includes the 16 MiB text and
    binary messages (hibiki's limit), 4 MiB in 64-byte fragments and chopped TCP writes."""

    def big_echo(self, opcode, size, send=None):
        pattern = TEXT_PATTERN if opcode == OP_TEXT else BINARY_PATTERN
        payload = repeat_to(pattern, size)
        t0 = time.monotonic()
        self.run_client_closes(send(payload) if send else
                               (lambda c: c.send_frame(opcode, payload)),
                               [msg(payload, opcode == OP_BINARY)], wait=BIG_WAIT)
        return time.monotonic() - t0

    SIZES = [(1, 64 * KiB), (2, 256 * KiB), (3, 1 * MiB), (4, 4 * MiB), (5, 8 * MiB),
             (6, 16 * MiB)]

    def test_9_1_text_single_frame(self):
        for i, size in self.SIZES:
            with self.subTest(case="9.1.%d" % i, size=size):
                self.big_echo(OP_TEXT, size)

    def test_9_2_binary_single_frame(self):
        for i, size in self.SIZES:
            with self.subTest(case="9.2.%d" % i, size=size):
                self.big_echo(OP_BINARY, size)

    def fragmented(self, opcode, size, frag):
        return self.big_echo(opcode, size,
                             send=lambda p: (lambda c: c.send_message(opcode, p, frag_size=frag)))

    FRAGS = [(1, 64), (2, 256), (3, 1 * KiB), (4, 4 * KiB), (5, 16 * KiB), (6, 64 * KiB),
             (7, 256 * KiB), (8, 1 * MiB), (9, 4 * MiB)]

    def test_9_3_text_4MiB_fragmented(self):
        for i, frag in self.FRAGS:
            with self.subTest(case="9.3.%d" % i, fragment=frag):
                self.fragmented(OP_TEXT, 4 * MiB, frag)

    def test_9_4_binary_4MiB_fragmented(self):
        for i, frag in self.FRAGS:
            with self.subTest(case="9.4.%d" % i, fragment=frag):
                self.fragmented(OP_BINARY, 4 * MiB, frag)

    def chopped(self, opcode, size, chop, delay=0.0):
        return self.big_echo(opcode, size,
                             send=lambda p: (lambda c: c.send_frame(opcode, p, chopsize=chop,
                                                                    delay=delay)))

    CHOPS = [(1, 64), (2, 128), (3, 256), (4, 512), (5, 1024), (6, 2048)]

    def test_9_5_text_1MiB_chopped(self):
        for i, chop in self.CHOPS:
            with self.subTest(case="9.5.%d" % i, chop=chop):
                self.chopped(OP_TEXT, 1 * MiB, chop)

    def test_9_6_binary_1MiB_chopped(self):
        for i, chop in self.CHOPS:
            with self.subTest(case="9.6.%d" % i, chop=chop):
                self.chopped(OP_BINARY, 1 * MiB, chop)

    def test_9_5_x_text_64KiB_in_one_byte_writes(self):
        # Not in Autobahn at this size: every byte of the frame is its own send().
        self.chopped(OP_TEXT, 64 * KiB, 1)

    def test_9_5_y_text_in_one_byte_writes_with_delays(self):
        # 1 ms between the 1-byte writes, so the server's reads really see single bytes,
        # including inside multi-byte UTF-8 sequences and the 16-bit length field.
        payload = (HELLO_UTF8 * 20)[:300]
        payload = payload[:len(payload.decode("utf-8", "ignore").encode("utf-8"))]
        self.run_client_closes(lambda c: c.send_frame(OP_TEXT, payload, chopsize=1, delay=0.001),
                               [msg(payload)], wait=BIG_WAIT)

    def round_trips(self, opcode, size, count):
        payload = (b"*" if opcode == OP_TEXT else b"\xfe") * size  # as case9_7_X.py
        c = self.connect()
        for i in range(count):
            c.send_frame(opcode, payload)
            ev = c.next_event(time.monotonic() + BIG_WAIT)
            if ev != msg(payload, opcode == OP_BINARY):
                self.fail("message %d of %d (size %d): expected its echo, got %s"
                          % (i + 1, count, size, describe([ev])))
        self.run_client_closes(lambda c: None, [], client=c)

    ROUND_TRIP_COUNT = int(os.environ.get("HIBIKI_CONF_ROUND_TRIPS", "1000"))

    def test_9_7_text_round_trips(self):
        for i, size in enumerate([0, 16, 64, 256, 1024, 4096], 1):
            with self.subTest(case="9.7.%d" % i, size=size):
                self.round_trips(OP_TEXT, size, self.ROUND_TRIP_COUNT)

    def test_9_8_binary_round_trips(self):
        for i, size in enumerate([0, 16, 64, 256, 1024, 4096], 1):
            with self.subTest(case="9.8.%d" % i, size=size):
                self.round_trips(OP_BINARY, size, self.ROUND_TRIP_COUNT)


# --------------------------------------------------------------------------------------
# 10.* Misc
# --------------------------------------------------------------------------------------


class Case10Misc(AutobahnCase):
    def test_10_1_1_auto_fragmented_64KiB_in_1300_byte_fragments(self):
        payload = b"*" * 65536
        self.run_client_closes(lambda c: c.send_message(OP_TEXT, payload, frag_size=1300),
                               [msg(payload)], wait=10)


# --------------------------------------------------------------------------------------
# hibiki's own contract beyond Autobahn's list (same verdict rules)
# --------------------------------------------------------------------------------------


class HibikiExtras(AutobahnCase):
    def test_non_minimal_length_encodings_are_accepted(self):
        for form, n in [(16, 0), (16, 5), (16, 125), (64, 0), (64, 5), (64, 126), (64, 65535),
                        (7, 125), (16, 126), (64, 65536)]:
            for opcode in (OP_TEXT, OP_BINARY):
                with self.subTest(length_form=form, length=n, opcode=opcode):
                    self.echo_case(opcode, b"x" * n, length_form=form)

    def test_message_across_frames_of_boundary_sizes(self):
        sizes = [0, 125, 126, 127, 128, 65535, 65536]
        for opcode in (OP_TEXT, OP_BINARY):
            with self.subTest(opcode=opcode):
                parts = [bytes([0x41 + i]) * n for i, n in enumerate(sizes)]

                def send(c, parts=parts, opcode=opcode):
                    for i, p in enumerate(parts):
                        c.send_frame(opcode if i == 0 else OP_CONT, p, fin=i == len(parts) - 1,
                                     length_form=64 if i % 2 else "auto")
                self.run_client_closes(send, [msg(b"".join(parts), opcode == OP_BINARY)],
                                       wait=10)

    def test_unmasked_client_frame(self):
        self.run_server_fails(lambda c: c.send_frame(OP_TEXT, HELLO, masked=False))

    def test_unmasked_client_ping(self):
        self.run_server_fails(lambda c: c.send_frame(OP_PING, b"x", masked=False))

    def test_64bit_length_with_msb_set(self):
        self.run_server_fails(lambda c: c.send_raw(
            build_frame(OP_BINARY, b"", declared_len=(1 << 63) | 5, length_form=64) + b"12345"))

    def test_fragmented_close(self):
        self.run_server_fails(lambda c: c.send_frame(OP_CLOSE, close_payload(1000), fin=False))

    def test_binary_frame_inside_fragmented_text(self):
        def send(c):
            c.send_frame(OP_TEXT, b"frag", fin=False)
            c.send_frame(OP_BINARY, b"other", fin=True)
        self.run_server_fails(send)

    def test_ping_126_bytes_in_64bit_form(self):
        self.run_server_fails(lambda c: c.send_frame(OP_PING, b"p" * 126, length_form=64))

    def test_control_frame_125_bytes_pong_and_close(self):
        # Largest legal close: code + 123 bytes reason (7.3.5) and a 125-byte pong (ignored).
        def send(c):
            c.send_frame(OP_PONG, b"q" * 125)
            c.send_frame(OP_PING, b"r" * 125)
        self.run_client_closes(send, [pong(b"r" * 125)])

    def test_pings_between_many_fragments(self):
        def send(c):
            c.send_frame(OP_BINARY, b"a", fin=False)
            for i in range(5):
                c.send_frame(OP_PING, bytes([i]) * i)
                c.send_frame(OP_CONT, b"b", fin=False)
            c.send_frame(OP_CONT, b"c", fin=True)
        self.run_client_closes(send, [pong(bytes([i]) * i) for i in range(5)] +
                               [msg(b"abbbbbc", True)])

    def test_message_of_exactly_16MiB_fragmented_is_accepted(self):
        payload = repeat_to(BINARY_PATTERN, MAX_MESSAGE)
        self.run_client_closes(lambda c: c.send_message(OP_BINARY, payload, frag_size=MiB),
                               [msg(payload, True)], wait=BIG_WAIT)

    def too_big(self, send):
        self.run_server_fails(send, codes=(CLOSE_MESSAGE_TOO_BIG,), kill_after=BIG_WAIT)

    def test_single_frame_over_16MiB_is_1009(self):
        payload = repeat_to(TEXT_PATTERN, MAX_MESSAGE + 1)
        self.too_big(lambda c: c.send_frame(OP_TEXT, payload))

    def test_fragmented_message_over_16MiB_is_1009(self):
        payload = repeat_to(BINARY_PATTERN, MAX_MESSAGE + 1)
        self.too_big(lambda c: c.send_message(OP_BINARY, payload, frag_size=4 * MiB))

    def test_header_announcing_over_16MiB_is_1009_before_payload(self):
        # Only the header: a server checking the announced length can fail at once.
        self.run_server_fails(
            lambda c: c.send_raw(build_frame(OP_BINARY, b"", declared_len=MAX_MESSAGE + 1)),
            codes=(CLOSE_MESSAGE_TOO_BIG,), kill_after=3.0)

    def test_data_after_close_is_ignored(self):
        def send(c):
            c.send_close(3000, b"bye")
            c.send_frame(OP_BINARY, b"ignored")
            c.send_frame(OP_PING, b"ignored")
        self.run_client_closes(send, [], own_close=True, close_codes=(CLOSE_NORMAL, 3000),
                               hibiki_code=3000)

    def test_invalid_utf8_in_second_fragment_fails_before_final(self):
        # Fail fast without timing games: the final fragment is never sent.
        def send(c):
            c.send_frame(OP_TEXT, b"valid ", fin=False)
            c.send_frame(OP_CONT, b"\xc0\xaf", fin=False)
        self.run_server_fails(send, codes=(CLOSE_INVALID_PAYLOAD,))

    def test_truncated_utf8_at_end_of_fragmented_message(self):
        def send(c):
            c.send_frame(OP_TEXT, b"abc\xe2\x82", fin=False)
            c.send_frame(OP_CONT, b"", fin=True)
        self.run_server_fails(send, codes=(CLOSE_INVALID_PAYLOAD,))


class HibikiConnectionRelease(AutobahnCase):
    """Not an Autobahn case (Autobahn only sees the EOF): once the close handshake is over and
    the peer has closed its socket too, the server must release the connection (its socket
    fd) at once, not when its close timer (--close-timeout, 5 s) fires. Counts the server's
    socket fds through /proc, so Linux only; its own server, so the baseline is exact."""

    RELEASE_WAIT = 1.0

    def server_sockets(self):
        fd_dir = "/proc/%d/fd" % self.server.proc.pid
        count = 0
        for fd in os.listdir(fd_dir):
            try:
                if os.readlink(os.path.join(fd_dir, fd)).startswith("socket:"):
                    count += 1
            except OSError:
                pass
        return count

    def released(self, baseline):
        deadline = time.monotonic() + scaled(self.RELEASE_WAIT)
        while True:
            now = self.server_sockets()
            if now <= baseline or time.monotonic() > deadline:
                return now
            time.sleep(0.01)

    TRIALS = 20  # the missed EOF depends on how the close reply and the FIN are coalesced

    def check_release(self, run_one):
        if not os.path.isdir("/proc/%d/fd" % self.server.proc.pid):
            self.skipTest("needs /proc")
        baseline = self.released(10**9)
        for trial in range(self.TRIALS):
            c = run_one()
            c.close()
            now = self.released(baseline)
            if now > baseline:
                t0 = time.monotonic()
                while self.server_sockets() > baseline and time.monotonic() - t0 < 10:
                    time.sleep(0.05)
                self.fail("trial %d of %d: the server still held %d socket(s) %.1f s after the "
                          "closing handshake had completed and the peer had closed its socket "
                          "(released only %.1f s after the handshake: by a timer, not on the "
                          "peer's EOF)"
                          % (trial + 1, self.TRIALS, now - baseline, scaled(self.RELEASE_WAIT),
                             time.monotonic() - t0 + scaled(self.RELEASE_WAIT)))

    def test_release_after_server_initiated_1007_answered_by_client(self):
        # What Autobahn does in every 6.* failure case: answer the server's close, then close.
        self.check_release(lambda: self.run_server_fails(
            lambda c: c.send_frame(OP_TEXT, b"\xff"), codes=(CLOSE_INVALID_PAYLOAD,))[0])

    def test_release_after_server_initiated_1002_answered_by_client(self):
        self.check_release(lambda: self.run_server_fails(
            lambda c: c.send_frame(OP_TEXT, HELLO, rsv=1))[0])

    def test_release_when_close_reply_and_fin_share_one_segment(self):
        # The Autobahn sequence made deterministic: the server fails the connection (1002),
        # we answer with our close frame and end our side at once; TCP_CORK makes the kernel
        # put our close frame and our FIN into one segment, so the server sees both in a
        # single wakeup: a read returning the 8 bytes, then (only if it reads again) the EOF.
        def run_one():
            c = self.connect()
            c.send_frame(OP_TEXT, HELLO, rsv=1)
            ev = c.next_event(time.monotonic() + scaled(KILL_AFTER))
            self.assertEqual(ev[:2], ("close", CLOSE_PROTOCOL_ERROR), repr(ev))
            self.assertTrue(c.wait_eof(scaled(SERVER_DROP_TIMEOUT)), "no EOF after close")
            c.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_CORK, 1)
            c.send_close(CLOSE_NORMAL)
            c.sock.shutdown(socket.SHUT_WR)
            return c
        self.check_release(run_one)

    def test_release_when_bad_frame_close_and_fin_arrive_together(self):
        # The bad frame, our close frame and our FIN all queued before the server reads.
        def run_one():
            c = self.connect()
            c.send_raw(build_frame(OP_TEXT, HELLO, rsv=1) + build_frame(OP_CLOSE, close_payload(
                CLOSE_NORMAL)))
            c.sock.shutdown(socket.SHUT_WR)
            ev = c.next_event(time.monotonic() + scaled(KILL_AFTER))
            self.assertEqual(ev[:2], ("close", CLOSE_PROTOCOL_ERROR), repr(ev))
            self.assertTrue(c.wait_eof(scaled(SERVER_DROP_TIMEOUT)), "no EOF after close")
            return c
        self.check_release(run_one)

    def test_release_after_client_initiated_close(self):
        self.check_release(lambda: self.run_client_closes(lambda c: None, [])[0])


if __name__ == "__main__":
    unittest.main()
