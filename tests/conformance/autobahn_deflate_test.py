"""Raw-socket reproduction of Autobahn|Testsuite (fuzzingclient) cases 12.* and 13.*
(permessage-deflate, RFC 7692), plus compression edge cases Autobahn does not send.

Runs against ``hibiki echo`` (HIBIKI_BIN, default build/debug/hibiki of this checkout):

    /usr/bin/python3 -m unittest discover -s tests/conformance -p '*_test.py'

Standard library only (zlib for DEFLATE). The client is the one of autobahn_cases_test.py
(frames built byte by byte, strict parsing of the server's frames), extended with
permessage-deflate: it sends Autobahn's offers, checks the server's answer the way Autobahn's
client parses it (plus RFC 7692's rules on what a server may answer), compresses like
Autobahn's client (zlib raw deflate, Z_DEFAULT_COMPRESSION, memLevel 8, sync flush with the
00 00 FF FF tail removed, one compressor per connection unless client_no_context_takeover was
agreed), fragments like Autobahn's autoFragmentSize, and inflates the server's messages like
Autobahn (one decompressobj per connection unless server_no_context_takeover was agreed, with
the agreed server_max_window_bits). RSV1 is accepted only on the first frame of a data message,
and only when permessage-deflate was agreed.

Each 12.x.y / 13.x.y case: connect with the case's offer, then send COUNT messages of the
case's size one at a time (slices of the case's data set, wrapping around like Autobahn's
sendOne), each waiting for its echo, which must inflate to exactly what was sent (type, length,
content); then a clean close with 1000. See README.md next to this file for the reductions
(message counts, synthetic data sets) and the rules we were unsure of.
"""

import os
import random
import re
import struct
import sys
import time
import unittest
import zlib

sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
import autobahn_cases_test as base  # noqa: E402  (the raw client, server process, verdicts)

from autobahn_cases_test import (  # noqa: E402
    OP_BINARY, OP_CLOSE, OP_CONT, OP_PING, OP_PONG, OP_TEXT, ServerViolation, build_frame, msg,
    pong)

# --------------------------------------------------------------------------------------
# Knobs
# --------------------------------------------------------------------------------------

# Autobahn sends 1000 messages per case. We send at most DEFLATE_COUNT, and fewer for big
# messages: as many as fit DEFLATE_CASE_BYTES of payload, but never fewer than MIN_COUNT.
# HIBIKI_CONF_DEFLATE_COUNT=1000 HIBIKI_CONF_DEFLATE_CASE_BYTES=0 is Autobahn's full load.
DEFLATE_COUNT = int(os.environ.get("HIBIKI_CONF_DEFLATE_COUNT", "50"))
DEFLATE_CASE_BYTES = int(os.environ.get("HIBIKI_CONF_DEFLATE_CASE_BYTES", str(1024 * 1024)))
MIN_COUNT = 4
# When the agreed server_max_window_bits is below 15, the first WINDOW_SCAN compressed echoes
# of a case are walked symbol by symbol (pure Python) to check that no back-reference reaches
# further than 2^server_max_window_bits bytes. zlib's own inflate only notices a too-far
# distance when it crosses the boundary of one inflate() call, so this is the strict check.
WINDOW_SCAN = int(os.environ.get("HIBIKI_CONF_DEFLATE_WINDOW_SCAN", "1000"))

EXT_NAME = "permessage-deflate"
WINDOW_BITS_OK = range(8, 16)  # Autobahn's WINDOW_SIZE_PERMISSIBLE_VALUES (its 2014 client)
TAIL = b"\x00\x00\xff\xff"


def count_for(size):
    if DEFLATE_CASE_BYTES <= 0:
        return DEFLATE_COUNT
    return max(min(MIN_COUNT, DEFLATE_COUNT), min(DEFLATE_COUNT, DEFLATE_CASE_BYTES // size))


# --------------------------------------------------------------------------------------
# Offers (what Autobahn's client sends) and answers (what it accepts)
# --------------------------------------------------------------------------------------


class Offer:
    """One permessage-deflate offer, in the terms of Autobahn's PerMessageDeflateOffer:
    accept_no_context_takeover -> "client_no_context_takeover" (the client agrees to reset its
    compressor if the server asks), accept_max_window_bits -> "client_max_window_bits" (no
    value: the client can limit its window if the server asks), request_no_context_takeover ->
    "server_no_context_takeover", request_max_window_bits N -> "server_max_window_bits=N".
    client_max_window_bits_value (not Autobahn) offers "client_max_window_bits=N"."""

    def __init__(self, accept_no_context_takeover=True, accept_max_window_bits=True,
                 request_no_context_takeover=False, request_max_window_bits=0,
                 client_max_window_bits_value=0):
        self.accept_no_context_takeover = accept_no_context_takeover
        self.accept_max_window_bits = accept_max_window_bits
        self.request_no_context_takeover = request_no_context_takeover
        self.request_max_window_bits = request_max_window_bits
        self.client_max_window_bits_value = client_max_window_bits_value

    def header(self):
        # Same parameter order as Autobahn's getExtensionString().
        parts = [EXT_NAME]
        if self.accept_no_context_takeover:
            parts.append("client_no_context_takeover")
        if self.client_max_window_bits_value:
            parts.append("client_max_window_bits=%d" % self.client_max_window_bits_value)
        elif self.accept_max_window_bits:
            parts.append("client_max_window_bits")
        if self.request_no_context_takeover:
            parts.append("server_no_context_takeover")
        if self.request_max_window_bits:
            parts.append("server_max_window_bits=%d" % self.request_max_window_bits)
        return "; ".join(parts)

    def __repr__(self):
        return repr(self.header())


def offers_header(offers):
    return ", ".join(o.header() for o in offers)


class Agreed:
    """The server's permessage-deflate answer as Autobahn's PerMessageDeflateResponse holds it
    (0 = window parameter absent)."""

    def __init__(self, params):
        self.server_no_context_takeover = "server_no_context_takeover" in params
        self.client_no_context_takeover = "client_no_context_takeover" in params
        self.server_max_window_bits = params.get("server_max_window_bits", 0)
        self.client_max_window_bits = params.get("client_max_window_bits", 0)

    @property
    def server_window(self):
        return self.server_max_window_bits or 15

    @property
    def client_window(self):
        return self.client_max_window_bits or 15

    def __repr__(self):
        return ("Agreed(server_no_context_takeover=%s, client_no_context_takeover=%s, "
                "server_max_window_bits=%s, client_max_window_bits=%s)"
                % (self.server_no_context_takeover, self.client_no_context_takeover,
                   self.server_max_window_bits or "-", self.client_max_window_bits or "-"))


def parse_extensions_header(value):
    """Autobahn's _parseExtensionsHeader: comma list, ';' params, names lowercased, values
    stripped of surrounding quotes, a parameter without '=' has the value True."""
    extensions = []
    for element in value.split(","):
        element = element.strip()
        if not element:
            continue
        pieces = [p.strip() for p in element.split(";")]
        params = {}
        for p in pieces[1:]:
            kv = [x.strip() for x in p.split("=")]
            key = kv[0].lower()
            if len(kv) > 1:
                v = "=".join(kv[1:])
                if v.startswith('"'):
                    v = v[1:]
                if v.endswith('"'):
                    v = v[:-1]
            else:
                v = True
            params.setdefault(key, []).append(v)
        extensions.append((pieces[0].lower(), params))
    return extensions


def autobahn_parse_response(params):
    """PerMessageDeflateResponse.parse(): raises ServerViolation where Autobahn's client fails
    the opening handshake. Returns {name: value} with window bits as ints."""
    out = {}
    for name, values in params.items():
        if len(values) > 1:
            raise ServerViolation("Autobahn's client fails the handshake: parameter %r appears "
                                  "%d times in the permessage-deflate answer" % (name, len(values)))
        value = values[0]
        if name in ("client_max_window_bits", "server_max_window_bits"):
            try:
                bits = int(value)  # Python 2's int(True) == 1: a bare parameter is refused too
            except (TypeError, ValueError):
                raise ServerViolation("Autobahn's client fails the handshake: %s=%r is not an "
                                      "integer" % (name, value))
            if value is True or bits not in WINDOW_BITS_OK:
                raise ServerViolation("Autobahn's client fails the handshake: %s=%r is not one "
                                      "of 8..15" % (name, value))
            out[name] = bits
        elif name in ("client_no_context_takeover", "server_no_context_takeover"):
            if value is not True:
                raise ServerViolation("Autobahn's client fails the handshake: %s has a value %r"
                                      % (name, value))
            out[name] = True
        else:
            raise ServerViolation("Autobahn's client fails the handshake: unknown "
                                  "permessage-deflate parameter %r" % name)
    return out


def rfc_answer_problems(offer, params, raw_params):
    """RFC 7692 §7.1 rules for accepting `offer` with the answer `params` (parsed) /
    `raw_params` (as sent). Returns a list of problems (empty: a valid acceptance)."""
    problems = []
    if offer.request_no_context_takeover and "server_no_context_takeover" not in params:
        problems.append("the offer has server_no_context_takeover, the answer does not "
                        "(§7.1.1.1: accepting it means answering it)")
    if offer.request_max_window_bits:
        got = params.get("server_max_window_bits")
        if got is None:
            problems.append("the offer has server_max_window_bits=%d, the answer has none "
                            "(§7.1.2.1)" % offer.request_max_window_bits)
        elif got > offer.request_max_window_bits:
            problems.append("server_max_window_bits=%d answered to an offer of %d (§7.1.2.1: "
                            "same or smaller)" % (got, offer.request_max_window_bits))
    if "client_max_window_bits" in params:
        if not (offer.accept_max_window_bits or offer.client_max_window_bits_value):
            problems.append("client_max_window_bits answered but not offered (§7.1.2.2: MUST "
                            "NOT)")
        elif (offer.client_max_window_bits_value
              and params["client_max_window_bits"] > offer.client_max_window_bits_value):
            problems.append("client_max_window_bits=%d answered to an offer of %d (§7.1.2.2)"
                            % (params["client_max_window_bits"],
                               offer.client_max_window_bits_value))
    # §7.1.2.1 / §7.1.2.2: a decimal integer without leading zeroes (Autobahn's int() would
    # also take "08" or "+9"; the RFC does not).
    for name in ("server_max_window_bits", "client_max_window_bits"):
        raw = raw_params.get(name)
        if raw and raw[0] is not True and not re.fullmatch(r"[1-9][0-9]*", str(raw[0])):
            problems.append("%s=%r is not a decimal integer without leading zeroes"
                            % (name, raw[0]))
    return problems


def strict_client_problems(offer, params):
    """What a strict client refuses although RFC 7692 allows it: client_no_context_takeover
    answered to an offer that did not allow it (Autobahn's accept_no_context_takeover)."""
    if "client_no_context_takeover" in params and not offer.accept_no_context_takeover:
        return ["client_no_context_takeover answered, but the offer did not include it (strict "
                "clients refuse this; RFC 7692 §7.1.1.2 allows it)"]
    return []


# Autobahn's DEFLATE_PARAMS for 13.1 - 13.7 (case12_x_x.py), as client offers:
#   13.1 [(False, 0)]  13.2 [(True, 0)]  13.3 [(False, 8)]  13.4 [(False, 15)]
#   13.5 [(True, 8)]   13.6 [(True, 15)] 13.7 [(True, 8), (True, 0), (False, 0)]
# (requestNoContextTakeover, requestMaxWindowBits); acceptNoContextTakeover and
# acceptMaxWindowBits keep their default True, so every offer also carries
# "client_no_context_takeover; client_max_window_bits".
OFFERS_13 = [
    [Offer()],
    [Offer(request_no_context_takeover=True)],
    [Offer(request_max_window_bits=8)],
    [Offer(request_max_window_bits=15)],
    [Offer(request_no_context_takeover=True, request_max_window_bits=8)],
    [Offer(request_no_context_takeover=True, request_max_window_bits=15)],
    [Offer(request_no_context_takeover=True, request_max_window_bits=8),
     Offer(request_no_context_takeover=True), Offer()],
]
OFFERS_12 = [Offer()]  # "Use default permessage-deflate offer."

# MSG_SIZES of case12_x_x.py: (payload length, case timeout in s, autoFragmentSize).
MSG_SIZES = [
    (16, 60, 0), (64, 60, 0), (256, 120, 0), (1024, 240, 0), (4096, 480, 0), (8192, 480, 0),
    (16384, 480, 0), (32768, 480, 0), (65536, 480, 0), (131072, 480, 0),
    (8192, 480, 256), (16384, 480, 256), (32768, 480, 256), (65536, 480, 256),
    (131072, 480, 256), (131072, 480, 1024), (131072, 480, 4096), (131072, 480, 32768),
]

# --------------------------------------------------------------------------------------
# Data sets. Autobahn slices its testdata files; we cannot ship those, so each is replaced by a
# deterministic synthetic file of the same size, kind (text/binary) and compressibility class.
# --------------------------------------------------------------------------------------


def _json_data(size):
    """Stands in for data1.json (194056 bytes, utf8): an Autobahn report index."""
    rnd = random.Random(12001)
    agents = ["AutobahnPython/0.6.0", "hibiki/1.0", "WebSocket++/0.3.0", "Jetty/9.1",
              "ws/8.16", "uWebSockets/20", "Tungstenite/0.21", "Gorilla/1.5"]
    case_ids = []
    for a, b, n in [(1, 1, 8), (1, 2, 8), (2, 0, 11), (3, 0, 7), (4, 1, 5), (4, 2, 5), (5, 0, 20),
                    (6, 1, 3), (6, 2, 4), (6, 3, 2), (6, 4, 4), (7, 1, 6), (7, 3, 6), (7, 7, 13),
                    (9, 1, 6), (9, 2, 6), (10, 1, 1), (12, 1, 18), (13, 1, 18)]:
        for i in range(1, n + 1):
            case_ids.append("%d.%d" % (a, i) if b == 0 else "%d.%d.%d" % (a, b, i))
    out = ["{\n"]
    total = 2
    while total < size:
        agent = agents[rnd.randrange(len(agents))]
        chunk = ['   "%s": {\n' % agent]
        for cid in case_ids:
            behavior = rnd.choice(["OK"] * 12 + ["NON-STRICT", "INFORMATIONAL", "FAILED"])
            chunk.append(
                '      "%s": {\n         "behavior": "%s",\n         "behaviorClose": "%s",\n'
                '         "duration": %d,\n         "remoteCloseCode": %d,\n'
                '         "reportfile": "%s_case_%s.json"\n      },\n'
                % (cid, behavior, rnd.choice(["OK"] * 8 + ["UNCLEAN", "WRONG CODE"]),
                   int(rnd.expovariate(1 / 40.0)), rnd.choice([1000] * 6 + [1002, 1007, 1001]),
                   agent.lower().replace("/", "_").replace(".", "_"), cid.replace(".", "_")))
        chunk.append("   },\n")
        text = "".join(chunk)
        out.append(text)
        total += len(text)
    return "".join(out).encode("ascii")[:size]


def _html_data(size):
    """Stands in for data1.html (263527 bytes, utf8): an HTML test report."""
    rnd = random.Random(12004)
    out = ['<!DOCTYPE html>\n<html>\n<head>\n<meta charset="utf-8" />\n<style lang="css">\n'
           'body { background-color: #F4F4F4; color: #333; font-family: Segoe UI, Tahoma; }\n'
           'table { border-collapse: collapse; }\n td { padding: 2px 6px; }\n'
           '.case_ok { background-color: #0a0; }\n.case_failed { background-color: #900; }\n'
           '.case_non_strict { background-color: #9a0; }\n</style>\n</head>\n<body>\n'
           '<h1>WebSocket Protocol Test Report</h1>\n<table id="agent_case_results">\n']
    total = len(out[0])
    n = 0
    while total < size:
        n += 1
        a, b, c = 1 + n // 150, 1 + (n // 18) % 8, 1 + n % 18
        status = rnd.choice(["ok"] * 9 + ["failed", "non_strict"])
        row = ('<tr><td class="case_%s"><a href="#case_desc_%d_%d_%d">Case %d.%d.%d</a></td>'
               '<td class="case_%s"><a href="agent_case_%d_%d_%d.html">%s</a><br/>'
               '<span class="case_duration">%d ms</span></td><td class="close">%d</td></tr>\n'
               % (status, a, b, c, a, b, c, status, a, b, c,
                  {"ok": "Pass", "failed": "Fail", "non_strict": "Non-Strict"}[status],
                  rnd.randrange(1, 900), rnd.choice([1000, 1000, 1000, 1002, 1007])))
        out.append(row)
        total += len(row)
    return "".join(out).encode("ascii")[:size]


_GERMAN = ("der die das und nicht ich ist zu sie es mit sich den ein so ihr auf was wie mir "
           "mich du ein wohl auch nur noch dem doch wenn mein dich an schon nun bin hab hat "
           "sein kann will soll muss da wo Herz Geist Welt Gott Himmel Erde Nacht Tag Licht "
           "Blut Leben Tod Seele Liebe Gretchen Teufel Natur Kraft Wort Tat Sinn Zeit Feuer "
           "Schönheit Glück Mädchen Gefühl Brust Sehnsucht Träume Ewigkeit Lüfte Blüten "
           "schön süß groß größer hoch früh spät heiß bös müde fröhlich Hölle Öde Übel "
           "Anfang Augenblick verweile doch du bist so schön Grau teurer Freund ist alle "
           "Theorie und grün des Lebens goldner Baum Zwei Seelen wohnen ach in meiner Brust "
           "Habe nun ach Philosophie Juristerei und Medizin leider auch Theologie durchaus "
           "studiert mit heißem Bemühn Da steh ich nun ich armer Tor").split()
_SPEAKERS = ["FAUST", "MEPHISTOPHELES", "MARGARETE", "WAGNER", "MARTHE", "CHOR DER ENGEL",
             "DER HERR", "SCHÜLER", "VALENTIN", "HEXE"]


def _faust_data(size):
    """Stands in for pg2229.txt (222218 bytes, sent as binary): German verse drama."""
    rnd = random.Random(12003)
    out = [b"The Project Gutenberg EBook of Faust: Der Tragoedie erster Teil\r\n\r\n"]
    total = len(out[0])
    while total < size:
        lines = ["", rnd.choice(_SPEAKERS) + ":"]
        for _ in range(rnd.randrange(2, 9)):
            words = [rnd.choice(_GERMAN) for _ in range(rnd.randrange(4, 10))]
            line = " ".join(words)
            lines.append(line[0].upper() + line[1:] + rnd.choice([",", ".", "!", "?", ";", ""]))
        text = "\r\n".join(lines).encode("utf-8") + b"\r\n"
        out.append(text)
        total += len(text)
    return b"".join(out)[:size]


def _lena_data(size):
    """Stands in for lena512.bmp (263222 bytes, binary): 512x512 8-bit grey BMP."""
    import math
    rnd = random.Random(12002)
    width = height = 512
    header = (b"BM" + struct.pack("<IHHI", size, 0, 0, 14 + 40 + 1024)
              + struct.pack("<IiiHHIIiiII", 40, width, height, 1, 8, 0, width * height, 2835,
                            2835, 256, 256))
    palette = b"".join(bytes((i, i, i, 0)) for i in range(256))
    cols = [40 * math.sin(x / 23.0) + 25 * math.sin(x / 7.3) for x in range(width)]
    rows = []
    for y in range(height):
        base_y = 118 + 50 * math.cos(y / 31.0)
        noise = rnd.getrandbits(8 * width).to_bytes(width, "little")
        rows.append(bytes(max(0, min(255, int(base_y + cols[x] * math.cos((x + y) / 97.0))
                                     + (noise[x] & 15) - 8)) for x in range(width)))
    data = header + palette + b"".join(rows)
    return (data + b"\x00" * size)[:size]


def _pdf_data(size):
    """Stands in for 10.1.1.105.5439.pdf (1042328 bytes, binary): a PDF, mostly compressed
    streams (incompressible) between small plain-text objects."""
    rnd = random.Random(12005)
    out = [b"%PDF-1.4\n%\xe2\xe3\xcf\xd3\n"]
    total = len(out[0])
    obj = 0
    while total < size:
        obj += 1
        if obj % 3:
            text = " ".join(rnd.choice(_GERMAN) for _ in range(rnd.randrange(200, 3000)))
            stream = zlib.compress(("BT /F1 12 Tf 72 712 Td (%s) Tj ET" % text).encode(), 9)
            piece = (b"%d 0 obj\n<< /Length %d /Filter /FlateDecode >>\nstream\n"
                     % (obj, len(stream)) + stream + b"\nendstream\nendobj\n")
        else:
            piece = (b"%d 0 obj\n<< /Type /Font /Subtype /Type1 /BaseFont /Times-Roman "
                     b"/Encoding /WinAnsiEncoding /FirstChar 32 /LastChar 255 /Widths [%s] >>\n"
                     b"endobj\n" % (obj, b" ".join(b"%d" % rnd.randrange(200, 900)
                                                  for _ in range(rnd.randrange(20, 120)))))
        out.append(piece)
        total += len(piece)
    return b"".join(out)[:size]


# Autobahn's WS_COMPRESSION_TESTDATA, in the order its report numbers them 12.1 - 12.5 (the
# order Python 2 iterated that dict): (key, description, file size, binary, generator).
DATASETS = [
    ("json_data1", "Large JSON data file", 194056, False, _json_data),
    ("lena512", "Lena Picture, Bitmap 512x512 bw", 263222, True, _lena_data),
    ("gutenberg_faust", "Human readable text, Goethe's Faust I (German)", 222218, True,
     _faust_data),
    ("html_data1", "Large HTML file", 263527, False, _html_data),
    ("ooms", "A larger PDF", 1042328, True, _pdf_data),
]
_DATA_CACHE = {}


def dataset(key):
    if key not in _DATA_CACHE:
        for k, _desc, size, _binary, gen in DATASETS:
            if k == key:
                data = gen(size)
                assert len(data) == size, (key, len(data))
                _DATA_CACHE[key] = data
    return _DATA_CACHE[key]


def autobahn_slices(data, length):
    """Autobahn's sendOne(): consecutive slices of `length` bytes, wrapping around."""
    ptr = 0
    n = len(data)
    while True:
        end = (ptr + length) % n
        yield data[ptr:end] if end > ptr else data[ptr:] + data[:end]
        ptr = end


# --------------------------------------------------------------------------------------
# DEFLATE back-reference scanner (for the window check)
# --------------------------------------------------------------------------------------

_LEN_BASE = [3, 4, 5, 6, 7, 8, 9, 10, 11, 13, 15, 17, 19, 23, 27, 31, 35, 43, 51, 59, 67, 83,
             99, 115, 131, 163, 195, 227, 258]
_LEN_EXTRA = [0, 0, 0, 0, 0, 0, 0, 0, 1, 1, 1, 1, 2, 2, 2, 2, 3, 3, 3, 3, 4, 4, 4, 4, 5, 5, 5,
              5, 0]
_DIST_BASE = [1, 2, 3, 4, 5, 7, 9, 13, 17, 25, 33, 49, 65, 97, 129, 193, 257, 385, 513, 769,
              1025, 1537, 2049, 3073, 4097, 6145, 8193, 12289, 16385, 24577]
_DIST_EXTRA = [0, 0, 0, 0, 1, 1, 2, 2, 3, 3, 4, 4, 5, 5, 6, 6, 7, 7, 8, 8, 9, 9, 10, 10, 11, 11,
               12, 12, 13, 13]
_CL_ORDER = [16, 17, 18, 0, 8, 7, 9, 6, 10, 5, 11, 4, 12, 3, 13, 2, 14, 1, 15]


class DeflateScanError(Exception):
    pass


def _huffman_table(lengths):
    """Lookup table indexed by the next `maxbits` input bits (LSB first): (symbol << 4) | len."""
    maxbits = max(lengths) if lengths else 0
    if maxbits == 0:
        return [None], 0
    count = [0] * 16
    for n in lengths:
        count[n] += 1
    count[0] = 0
    code = 0
    next_code = [0] * 16
    for bits in range(1, 16):
        code = (code + count[bits - 1]) << 1
        next_code[bits] = code
    table = [None] * (1 << maxbits)
    for sym, n in enumerate(lengths):
        if not n:
            continue
        c = next_code[n]
        next_code[n] += 1
        rev = int(format(c, "0%db" % n)[::-1], 2)
        for k in range(rev, 1 << maxbits, 1 << n):
            table[k] = (sym << 4) | n
    return table, maxbits


_FIXED_LIT = _huffman_table([8] * 144 + [9] * 112 + [7] * 24 + [8] * 8)
_FIXED_DIST = _huffman_table([5] * 30)


def scan_deflate(data):
    """Walks a raw DEFLATE stream and returns (largest back-reference distance, decoded size).
    Stops after a BFINAL block or when the input ends on a block boundary."""
    n = len(data)
    state = [0, 0, 0]  # byte pos, bit buffer, bit count

    def need(k):
        pos, buf, cnt = state
        while cnt < k:
            if pos >= n:
                raise DeflateScanError("stream ends inside a block")
            buf |= data[pos] << cnt
            pos += 1
            cnt += 8
        state[0], state[1], state[2] = pos, buf, cnt

    def bits(k):
        if k == 0:
            return 0
        need(k)
        v = state[1] & ((1 << k) - 1)
        state[1] >>= k
        state[2] -= k
        return v

    def decode(table):
        tab, maxbits = table
        pos, buf, cnt = state
        while cnt < maxbits and pos < n:
            buf |= data[pos] << cnt
            pos += 1
            cnt += 8
        entry = tab[buf & ((1 << maxbits) - 1)]
        if entry is None or (entry & 15) > cnt:
            raise DeflateScanError("invalid Huffman code or stream ends inside a block")
        length = entry & 15
        state[0], state[1], state[2] = pos, buf >> length, cnt - length
        return entry >> 4

    max_dist = 0
    out = 0
    while True:
        if state[0] >= n and state[2] < 8 and state[1] == 0:
            return max_dist, out  # input ended on a block boundary (padding bits zero)
        final = bits(1)
        btype = bits(2)
        if btype == 0:
            drop = state[2] % 8
            bits(drop)
            pos = state[0] - state[2] // 8
            state[1] = state[2] = 0
            if pos + 4 > n:
                raise DeflateScanError("stored block header cut off")
            length, nlength = struct.unpack_from("<HH", data, pos)
            if length ^ 0xFFFF != nlength:
                raise DeflateScanError("stored block LEN/NLEN mismatch")
            if pos + 4 + length > n:
                raise DeflateScanError("stored block cut off")
            state[0] = pos + 4 + length
            out += length
        elif btype in (1, 2):
            if btype == 1:
                lit, dist = _FIXED_LIT, _FIXED_DIST
            else:
                hlit, hdist, hclen = bits(5) + 257, bits(5) + 1, bits(4) + 4
                cl = [0] * 19
                for i in range(hclen):
                    cl[_CL_ORDER[i]] = bits(3)
                cl_table = _huffman_table(cl)
                lengths = []
                while len(lengths) < hlit + hdist:
                    sym = decode(cl_table)
                    if sym < 16:
                        lengths.append(sym)
                    elif sym == 16:
                        if not lengths:
                            raise DeflateScanError("repeat with no previous length")
                        lengths += [lengths[-1]] * (3 + bits(2))
                    elif sym == 17:
                        lengths += [0] * (3 + bits(3))
                    else:
                        lengths += [0] * (11 + bits(7))
                if len(lengths) > hlit + hdist or lengths[256] == 0:
                    raise DeflateScanError("bad code lengths")
                lit = _huffman_table(lengths[:hlit])
                dist = _huffman_table(lengths[hlit:])
            while True:
                sym = decode(lit)
                if sym < 256:
                    out += 1
                elif sym == 256:
                    break
                else:
                    sym -= 257
                    if sym >= 29:
                        raise DeflateScanError("invalid length symbol")
                    length = _LEN_BASE[sym] + bits(_LEN_EXTRA[sym])
                    dsym = decode(dist)
                    if dsym >= 30:
                        raise DeflateScanError("invalid distance symbol")
                    d = _DIST_BASE[dsym] + bits(_DIST_EXTRA[dsym])
                    if d > max_dist:
                        max_dist = d
                    out += length
        else:
            raise DeflateScanError("reserved block type 3")
        if final:
            return max_dist, out


# --------------------------------------------------------------------------------------
# The client
# --------------------------------------------------------------------------------------


class DeflateClient(base.WsClient):
    """WsClient with permessage-deflate: offers `offers` (list of Offer, or a raw header value
    string, or a list of raw header values for several Sec-WebSocket-Extensions headers)."""

    def __init__(self, port, offers=None, path="/"):
        self.offers = offers
        self.extensions_answer = None  # the Sec-WebSocket-Extensions value the server sent
        self.raw_params = None  # the permessage-deflate parameters as sent (name -> [values])
        self.params = None  # the same, parsed like Autobahn (name -> value)
        self.pmd = None  # Agreed, when permessage-deflate is in use
        self.compressor = None
        self.decompressor = None
        self.frame_rsv1 = False
        self.msg_compressed = False
        self.msg_frames = 0
        self.msg_wire = 0
        self.received = []  # per data message: (compressed, frames, wire bytes)
        self.scan_budget = 0  # how many more compressed messages to scan for distances
        self.scanned = []  # (max distance, size) per scanned message
        super().__init__(port, path)

    # -- opening handshake -------------------------------------------------------------

    def _offer_headers(self):
        if self.offers is None:
            return []
        if isinstance(self.offers, str):
            return [self.offers]
        if self.offers and isinstance(self.offers[0], str):
            return list(self.offers)
        return [offers_header(self.offers)]

    def _handshake(self, path):
        key = base.base64.b64encode(os.urandom(16))
        request = (b"GET " + path.encode() + b" HTTP/1.1\r\n"
                   b"Host: 127.0.0.1\r\n"
                   b"Upgrade: websocket\r\n"
                   b"Connection: Upgrade\r\n"
                   b"Sec-WebSocket-Key: " + key + b"\r\n"
                   b"Sec-WebSocket-Version: 13\r\n")
        for value in self._offer_headers():
            request += b"Sec-WebSocket-Extensions: " + value.encode("latin-1") + b"\r\n"
        request += b"User-Agent: hibiki-conformance\r\n\r\n"
        self.send_raw(request, timeout=base.IO_TIMEOUT)
        deadline = time.monotonic() + base.IO_TIMEOUT
        while b"\r\n\r\n" not in self.rbuf:
            if not self._fill(deadline):
                raise ServerViolation("opening handshake: no complete HTTP response (got %r)"
                                      % bytes(self.rbuf[:200]))
        end = self.rbuf.index(b"\r\n\r\n") + 4
        head = bytes(self.rbuf[:end]).decode("latin-1")
        del self.rbuf[:end]
        lines = head.split("\r\n")
        if not lines[0].startswith("HTTP/1.1 101 "):
            raise ServerViolation("opening handshake: status line %r" % lines[0])
        headers = []
        for line in lines[1:]:
            if line:
                name, _, value = line.partition(":")
                headers.append((name.strip().lower(), value.strip()))
        hmap = dict(headers)
        expected = base.base64.b64encode(base.hashlib.sha1(key + base.WS_GUID).digest()).decode()
        if hmap.get("sec-websocket-accept") != expected:
            raise ServerViolation("opening handshake: bad Sec-WebSocket-Accept %r"
                                  % hmap.get("sec-websocket-accept"))
        answers = [v for n, v in headers if n == "sec-websocket-extensions"]
        if not answers:
            return
        if len(answers) > 1:
            raise ServerViolation("Autobahn's client fails the handshake: Sec-WebSocket-Extensions "
                                  "appears %d times in the answer" % len(answers))
        self.extensions_answer = answers[0]
        if not self._offer_headers():
            raise ServerViolation("server answered Sec-WebSocket-Extensions %r to a request "
                                  "without extensions" % answers[0])
        for name, params in parse_extensions_header(answers[0]):
            if name != EXT_NAME:
                raise ServerViolation("Autobahn's client fails the handshake: server wants "
                                      "extension %r, which was not offered" % name)
            if self.pmd is not None:
                raise ServerViolation("Autobahn's client fails the handshake: more than one "
                                      "permessage-deflate in the answer %r" % answers[0])
            self.raw_params = params
            self.params = autobahn_parse_response(params)
            self.pmd = Agreed(self.params)

    # -- sending -----------------------------------------------------------------------

    def deflate(self, payload):
        """Autobahn's PerMessageDeflate as client: start/compress/end of one message."""
        if self.compressor is None or self.pmd.client_no_context_takeover:
            try:
                self.compressor = zlib.compressobj(zlib.Z_DEFAULT_COMPRESSION, zlib.DEFLATED,
                                                   -self.pmd.client_window, 8)
            except ValueError as err:
                raise AssertionError(
                    "Autobahn's client cannot compress with the agreed client_max_window_bits=%d: "
                    "zlib.compressobj(wbits=-%d) fails (%s; zlib >= 1.2.9 refuses 8 for raw "
                    "deflate)" % (self.pmd.client_window, self.pmd.client_window, err))
        data = self.compressor.compress(payload) + self.compressor.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(TAIL)
        return data[:-4]

    @staticmethod
    def autobahn_frames(opcode, payload, compressed, frag_size):
        """Autobahn's sendMessageHybi(): one frame, or fragments of frag_size (RSV1 on the
        first only); a payload that is an exact multiple of frag_size ends with an empty
        continuation frame, as Autobahn's loop does."""
        rsv = 4 if compressed else 0
        if not frag_size or len(payload) <= frag_size:
            return [build_frame(opcode, payload, rsv=rsv)]
        frames = []
        n = len(payload)
        i = 0
        first = True
        done = False
        while not done:
            j = i + frag_size
            if j > n:
                done = True
                j = n
            frames.append(build_frame(opcode if first else OP_CONT, payload[i:j], fin=done,
                                      rsv=rsv if first else 0))
            first = False
            i += frag_size
        return frames

    def send_deflated(self, opcode, payload, frag_size=0):
        data = self.deflate(payload)
        return self.send_raw(b"".join(self.autobahn_frames(opcode, data, True, frag_size)))

    # -- receiving ---------------------------------------------------------------------

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
                raise ServerViolation("server frame uses 16-bit length for %d bytes" % n)
        elif n == 127:
            if len(buf) < 10:
                return None
            n = struct.unpack_from("!Q", buf, 2)[0]
            pos = 10
            if n >> 63:
                raise ServerViolation("server frame 64-bit length has its MSB set")
            if n < 65536:
                raise ServerViolation("server frame uses 64-bit length for %d bytes" % n)
        if masked:
            raise ServerViolation("server sent a masked frame (opcode %d)" % opcode)
        if opcode not in base.KNOWN_OPCODES:
            raise ServerViolation("server frame has reserved opcode %d" % opcode)
        if rsv:
            if rsv != 4 or self.pmd is None:
                raise ServerViolation("server frame (opcode %d) has RSV bits %d set (%s)" % (
                    opcode, rsv, "permessage-deflate defines only RSV1" if self.pmd is not None
                    else "no extension negotiated"))
            if opcode >= 8:
                raise ServerViolation("server sent a compressed control frame (opcode %d with "
                                      "RSV1; RFC 7692 §6.1)" % opcode)
            if opcode == OP_CONT:
                raise ServerViolation("server set RSV1 on a continuation frame (RFC 7692 §6.1: "
                                      "only on the first frame of a message)")
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
        self.frame_rsv1 = rsv == 4
        self.frame_wire = pos + n
        return fin, opcode, payload

    def _inflate(self, data):
        """Autobahn's start/decompress/endDecompressMessage for one compressed message."""
        if self.decompressor is None or self.pmd.server_no_context_takeover:
            self.decompressor = zlib.decompressobj(-self.pmd.server_window)
        d = self.decompressor
        try:
            out = d.decompress(data)
            d.decompress(TAIL)  # Autobahn eats the tail; its output (none) is dropped
        except zlib.error as err:
            raise ServerViolation("compressed message does not inflate with a %d-bit window%s: "
                                  "%s" % (self.pmd.server_window,
                                          "" if self.pmd.server_no_context_takeover else
                                          " (context kept from earlier messages)", err))
        if self.scan_budget > 0:
            self.scan_budget -= 1
            try:
                dist, size = scan_deflate(data + TAIL)
            except DeflateScanError as err:
                raise ServerViolation("compressed message is not a valid DEFLATE stream: %s" % err)
            self.scanned.append((dist, size))
            if dist > (1 << self.pmd.server_window):
                raise ServerViolation(
                    "compressed message uses a back-reference distance of %d bytes, beyond the "
                    "agreed server_max_window_bits=%d (%d bytes; RFC 7692 §7.1.2.1)"
                    % (dist, self.pmd.server_window, 1 << self.pmd.server_window))
        return out

    def _on_frame(self, fin, opcode, payload):
        if opcode >= 8:
            return super()._on_frame(fin, opcode, payload)
        if opcode in (OP_TEXT, OP_BINARY):
            if self.msg_opcode is not None:
                raise ServerViolation("server started a new data frame (opcode %d) inside a "
                                      "fragmented message" % opcode)
            self.msg_opcode = opcode
            self.msg_parts = []
            self.msg_compressed = self.frame_rsv1
            self.msg_frames = 0
            self.msg_wire = 0
        elif self.msg_opcode is None:
            raise ServerViolation("server sent a continuation frame with nothing to continue")
        self.msg_parts.append(payload)
        self.msg_frames += 1
        self.msg_wire += self.frame_wire
        if not fin:
            return None
        data = b"".join(self.msg_parts)
        binary = self.msg_opcode == OP_BINARY
        compressed = self.msg_compressed
        self.msg_opcode = None
        self.msg_parts = []
        message = self._inflate(data) if compressed else data
        if not binary:
            try:
                message.decode("utf-8")
            except UnicodeDecodeError as err:
                raise ServerViolation("server sent a text message that is not valid UTF-8%s: %s"
                                      % (" after inflating" if compressed else "", err))
        self.received.append((compressed, self.msg_frames, self.msg_wire))
        return ("message", message, binary)


# --------------------------------------------------------------------------------------
# Test base
# --------------------------------------------------------------------------------------


def first_difference(a, b):
    for i, (x, y) in enumerate(zip(a, b)):
        if x != y:
            return i
    return min(len(a), len(b))


class DeflateCase(base.AutobahnCase):
    """One hibiki echo per class; mode/threshold/window describe its --compression options."""

    mode = "shared"
    threshold = 64
    window_bits = 15
    server_args = ()

    @classmethod
    def make_args(cls):
        args = ["--compression", cls.mode]
        if cls.threshold != 64:
            args += ["--compression-threshold", str(cls.threshold)]
        if cls.window_bits != 15:
            args += ["--compression-window-bits", str(cls.window_bits)]
        return tuple(args)

    @classmethod
    def setUpClass(cls):
        cls.server_args = cls.make_args()
        super().setUpClass()

    def connect(self, offers=None):
        client = DeflateClient(self.server.port, offers)
        self.clients.append(client)
        return client

    def describe_server(self):
        return "hibiki echo %s" % " ".join(self.server_args)

    # -- the server's answer -----------------------------------------------------------

    def check_answer(self, c, offers, case=""):
        """The answer must be Autobahn-parseable (the client checked that), accept one of the
        offers per RFC 7692, and be what hibiki's documented policy gives."""
        where = "%s%s: offered %r, answered %r" % (
            case + " " if case else "", self.describe_server(), offers_header(offers),
            c.extensions_answer)
        if c.pmd is None:
            self.fail("%s\n  the server declined every permessage-deflate offer (Autobahn: "
                      "UNIMPLEMENTED; hibiki contract: the first acceptable offer is accepted)"
                      % where)
        accepted = None
        reasons = []
        for i, offer in enumerate(offers):
            problems = rfc_answer_problems(offer, c.params, c.raw_params)
            if not problems:
                accepted = i
                break
            reasons.append("offer %d: %s" % (i + 1, "; ".join(problems)))
        if accepted is None:
            self.fail("%s\n  RFC 7692: the answer accepts none of the offers:\n    %s"
                      % (where, "\n    ".join(reasons)))
        problems = strict_client_problems(offers[accepted], c.params)
        offer = offers[accepted]
        # hibiki's policy (README / docs/ARCHITECTURE.md, compression): the first acceptable
        # offer; shared mode always answers server_no_context_takeover; windows never above
        # --compression-window-bits; client_no_context_takeover echoed only when offered.
        if accepted != 0:
            problems.append("hibiki contract: every offer here is acceptable, yet offer %d was "
                            "taken instead of the first" % (accepted + 1))
        if self.mode == "shared" and not c.pmd.server_no_context_takeover:
            problems.append("hibiki contract: --compression shared must answer "
                            "server_no_context_takeover")
        if (self.mode == "dedicated" and not offer.request_no_context_takeover
                and c.pmd.server_no_context_takeover):
            problems.append("hibiki contract: --compression dedicated keeps a context, yet it "
                            "answered server_no_context_takeover unasked")
        if c.pmd.server_window > self.window_bits:
            problems.append("hibiki contract: server window %d above --compression-window-bits %d"
                            % (c.pmd.server_window, self.window_bits))
        if (offer.accept_max_window_bits or offer.client_max_window_bits_value) and \
                c.pmd.client_window > self.window_bits:
            problems.append("hibiki contract: client_max_window_bits offered, but the answer "
                            "leaves the client window at %d, above --compression-window-bits %d"
                            % (c.pmd.client_window, self.window_bits))
        if c.pmd.client_no_context_takeover != offer.accept_no_context_takeover:
            problems.append("hibiki contract: client_no_context_takeover is answered exactly when "
                            "offered")
        if problems:
            self.fail("%s\n  %s" % (where, "\n  ".join(problems)))
        return accepted

    # -- the 12.* / 13.* cases -----------------------------------------------------------

    def run_autobahn_case(self, case_id, offers, data_key, size, wait, frag):
        _k, _desc, _size, binary, _gen = next(d for d in DATASETS if d[0] == data_key)
        data = dataset(data_key)
        c = self.connect(offers)
        self.check_answer(c, offers, case_id)
        if c.pmd.server_window < 15:
            c.scan_budget = WINDOW_SCAN
        count = count_for(size)
        opcode = OP_BINARY if binary else OP_TEXT
        info = ("case %s (%s, %d x %d bytes%s) against %s; offered %r, answered %r, agreed %r"
                % (case_id, data_key, count, size,
                   ", autoFragmentSize %d" % frag if frag else "", self.describe_server(),
                   offers_header(offers), c.extensions_answer, c.pmd))

        def exchange(c):
            deadline = time.monotonic() + wait  # Autobahn's closeAfter(WAITSECS)
            slices = autobahn_slices(data, size)
            for i in range(count):
                payload = next(slices)
                compressed = c.deflate(payload)
                frames = DeflateClient.autobahn_frames(opcode, compressed, True, frag)
                c.send_raw(b"".join(frames))
                ev = c.next_event(deadline)
                if ev[0] != "message":
                    self.fail("%s\n  message %d of %d: expected its echo, got %r (Autobahn: "
                              "FAILED)" % (info, i + 1, count, ev[:2]))
                got, got_binary = ev[1], ev[2]
                was_compressed = c.received[-1][0]
                if got_binary != binary or got != payload:
                    at = first_difference(got, payload)
                    self.fail("%s\n  message %d of %d (sent %d compressed bytes in %d frame(s)): "
                              "echo differs (Autobahn: FAILED): got %s of %d bytes, %s, expected "
                              "%s of %d bytes; first difference at byte %d"
                              % (info, i + 1, count, len(compressed), len(frames),
                                 "binary" if got_binary else "text", len(got),
                                 "compressed" if was_compressed else "uncompressed",
                                 "binary" if binary else "text", len(payload), at))
                want_compressed = len(payload) >= self.threshold
                if was_compressed != want_compressed:
                    self.fail("%s\n  message %d: a %d-byte echo came back %s; hibiki contract: "
                              "--compression-threshold %d compresses exactly the messages of "
                              "at least that size" % (info, i + 1, len(payload),
                                                      "compressed" if was_compressed else
                                                      "uncompressed", self.threshold))

        self.run_client_closes(exchange, [], client=c)

    # -- helpers for the extra cases -----------------------------------------------------

    def deflate_client(self, offers=None):
        c = self.connect(offers if offers is not None else [Offer()])
        if c.pmd is None:
            self.fail("%s declined %r"
                      % (self.describe_server(), offers_header(offers or [Offer()])))
        return c

    def echo_all(self, c, send, expected, wait=base.BIG_WAIT):
        """send(c) sends; the received events must equal `expected`; then a clean close."""
        self.run_client_closes(send, expected, wait=wait, client=c)


def _case_test(case_id, offers, data_key, size, wait, frag):
    def test(self):
        self.run_autobahn_case(case_id, offers, data_key, size, wait, frag)
    test.__doc__ = "Autobahn %s: %s, %d-byte messages%s, offer %s" % (
        case_id, data_key, size, ", autoFragmentSize %d" % frag if frag else "",
        offers_header(offers))
    return test


class AutobahnDeflateCases:
    """12.1.1 - 12.5.18 and 13.1.1 - 13.7.18, added below as test methods."""


for _j, (_key, _desc, _fsize, _binary, _gen) in enumerate(DATASETS, 1):
    for _i, (_size, _wait, _frag) in enumerate(MSG_SIZES, 1):
        _id = "12.%d.%d" % (_j, _i)
        setattr(AutobahnDeflateCases, "test_12_%d_%02d_%s_%d%s" % (
            _j, _i, _key, _size, "_frag%d" % _frag if _frag else ""),
            _case_test(_id, OFFERS_12, _key, _size, _wait, _frag))
for _j, _offers in enumerate(OFFERS_13, 1):
    for _i, (_size, _wait, _frag) in enumerate(MSG_SIZES, 1):
        _id = "13.%d.%d" % (_j, _i)
        setattr(AutobahnDeflateCases, "test_13_%d_%02d_json_%d%s" % (
            _j, _i, _size, "_frag%d" % _frag if _frag else ""),
            _case_test(_id, _offers, "json_data1", _size, _wait, _frag))


class Autobahn12And13SharedThreshold0(AutobahnDeflateCases, DeflateCase):
    """--compression shared --compression-threshold 0: every echo compressed."""
    mode = "shared"
    threshold = 0


class Autobahn12And13DedicatedThreshold0(AutobahnDeflateCases, DeflateCase):
    """--compression dedicated --compression-threshold 0."""
    mode = "dedicated"
    threshold = 0


class Autobahn12And13SharedDefault(AutobahnDeflateCases, DeflateCase):
    """--compression shared, default threshold 64: 16-byte echoes come back uncompressed."""
    mode = "shared"
    threshold = 64


class Autobahn12And13DedicatedDefault(AutobahnDeflateCases, DeflateCase):
    """--compression dedicated, default threshold 64."""
    mode = "dedicated"
    threshold = 64


# --------------------------------------------------------------------------------------
# Beyond Autobahn: framing and RSV1 rules, context handling, failures
# --------------------------------------------------------------------------------------

def _text(n, seed=7):
    """n bytes of compressible ASCII text."""
    data = dataset("json_data1")
    return (data * ((seed + n) // len(data) + 1))[seed:seed + n]


UTF8_TEXT = ("Grüße aus Köln — κόσμε, 日本語テキスト, emoji 😀🎉, "
             "ünïcödé everywhere. ").encode("utf-8") * 40


class DeflateExtras:
    """Compression rules Autobahn 12/13 do not exercise. Mixed into a class per mode."""

    # -- client -> server framing ------------------------------------------------------

    def test_fragmented_compressed_message_rsv1_first_frame_only(self):
        c = self.deflate_client()
        payload = _text(10000)
        data = c.deflate(payload)

        def send(c):
            frames = [build_frame(OP_TEXT if i == 0 else OP_CONT, data[i:i + 100],
                                  fin=i + 100 >= len(data), rsv=4 if i == 0 else 0)
                      for i in range(0, len(data), 100)]
            c.send_raw(b"".join(frames))
        self.echo_all(c, send, [msg(payload)])

    def test_compressed_message_in_one_byte_frames_with_empty_fragments(self):
        c = self.deflate_client()
        payload = UTF8_TEXT[:300]
        data = c.deflate(payload)

        def send(c):
            frames = [build_frame(OP_TEXT, b"", fin=False, rsv=4)]  # empty first fragment
            for i in range(len(data)):
                frames.append(build_frame(OP_CONT, data[i:i + 1], fin=False))
                if i % 50 == 0:
                    frames.append(build_frame(OP_CONT, b"", fin=False))
            frames.append(build_frame(OP_CONT, b"", fin=True))  # empty final fragment
            c.send_raw(b"".join(frames))
        self.echo_all(c, send, [msg(payload)])

    def test_compressed_fragments_with_ping_between_and_chopped_writes(self):
        c = self.deflate_client()
        payload = bytes(range(256)) * 64
        data = c.deflate(payload)
        half = len(data) // 2

        def send(c):
            c.send_chopped(build_frame(OP_BINARY, data[:half], fin=False, rsv=4), chopsize=7)
            c.send_frame(OP_PING, b"between")
            c.send_chopped(build_frame(OP_CONT, data[half:], fin=True), chopsize=7)
        self.echo_all(c, send, [pong(b"between"), msg(payload, binary=True)])

    def test_utf8_split_across_compressed_fragments(self):
        c = self.deflate_client()
        payload = UTF8_TEXT
        # Store-only compression (level 0) so code points are split across frames verbatim.
        comp = zlib.compressobj(0, zlib.DEFLATED, -15)
        data = (comp.compress(payload) + comp.flush(zlib.Z_SYNC_FLUSH))[:-4]

        def send(c):
            frames = [build_frame(OP_TEXT if i == 0 else OP_CONT, data[i:i + 3],
                                  fin=i + 3 >= len(data), rsv=4 if i == 0 else 0)
                      for i in range(0, len(data), 3)]
            c.send_raw(b"".join(frames))
        self.echo_all(c, send, [msg(payload)])

    def test_large_compressed_message_4mib_in_64kib_frames(self):
        c = self.deflate_client()
        payload = _text(4 << 20)

        def send(c):
            c.send_raw(b"".join(c.autobahn_frames(OP_TEXT, c.deflate(payload), True, 65536)))
        self.echo_all(c, send, [msg(payload)])

    def test_empty_compressed_messages(self):
        c = self.deflate_client()

        def send(c):
            c.send_frame(OP_TEXT, c.deflate(b""), rsv=4)  # 00: empty stored block, no tail
            c.send_frame(OP_BINARY, b"\x02\x00", rsv=4)  # empty fixed-Huffman block
            c.send_frame(OP_TEXT, b"", rsv=4)  # no compressed bytes at all
        self.echo_all(c, send, [msg(b""), msg(b"", binary=True), msg(b"")])

    # -- context takeover and interleaving ----------------------------------------------

    def test_client_context_takeover_interleaved_with_uncompressed_messages(self):
        # No client_no_context_takeover in the offer: the client keeps its window, so the
        # server's inflater must keep it across messages, and uncompressed messages in between
        # must not disturb it.
        c = self.deflate_client([Offer(accept_no_context_takeover=False)])
        self.assertFalse(c.pmd.client_no_context_takeover)
        payloads = [_text(3000, seed=100 * (i % 4)) for i in range(24)]

        def send(c):
            for i, p in enumerate(payloads):
                if i % 3 == 2:
                    c.send_frame(OP_TEXT, p)  # plain, RSV1 clear
                else:
                    c.send_deflated(OP_TEXT, p)
        self.echo_all(c, send, [msg(p) for p in payloads])

    def test_client_context_takeover_messages_reference_earlier_ones(self):
        c = self.deflate_client([Offer(accept_no_context_takeover=False)])
        block = os.urandom(2000)  # incompressible alone; later messages repeat it
        payloads = [block] + [block[i * 100:] + block[:i * 100] for i in range(1, 12)]

        def send(c):
            for p in payloads:
                c.send_deflated(OP_BINARY, p)
        self.echo_all(c, send, [msg(p, binary=True) for p in payloads])

    def test_server_context_survives_uncompressed_echoes(self):
        # Plain and compressed client messages alternate; every echo comes back compressed
        # (threshold 0), and our decompressor (one per connection unless
        # server_no_context_takeover) must stay in step with the server's compressor.
        c = self.deflate_client([Offer()])
        payloads = [_text(n, seed=n) for n in (10, 5000, 70, 5000, 1, 20000, 300, 5000)]

        def send(c):
            for i, p in enumerate(payloads):
                if i % 2:
                    c.send_frame(OP_TEXT, p)
                else:
                    c.send_deflated(OP_TEXT, p)
        self.echo_all(c, send, [msg(p) for p in payloads])

    def test_bfinal_block_then_context_takeover(self):
        # RFC 7692 §7.2.3.4: a message may end with a BFINAL block; the next message of a
        # context-keeping client may still refer to the earlier data (a new DEFLATE stream over
        # the same sliding window, made here with zlib's preset dictionary).
        c = self.deflate_client([Offer(accept_no_context_takeover=False)])
        first = _text(4000, seed=5)
        second = first[1000:3000] + first[:1500]
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        data1 = comp.compress(first) + comp.flush(zlib.Z_FINISH)  # ends with a BFINAL block
        comp2 = zlib.compressobj(6, zlib.DEFLATED, -15, 8, zlib.Z_DEFAULT_STRATEGY, zdict=first)
        data2 = comp2.compress(second) + comp2.flush(zlib.Z_SYNC_FLUSH)
        self.assertTrue(data2.endswith(TAIL))

        def send(c):
            c.send_frame(OP_TEXT, data1, rsv=4)
            c.send_frame(OP_TEXT, data2[:-4], rsv=4)
        self.echo_all(c, send, [msg(first), msg(second)])

    def test_bfinal_block_with_tail_still_present(self):
        # Z_FINISH output with a sync-flush tail appended after it and kept (the server
        # appends another tail, which comes after the BFINAL block and must be ignored).
        c = self.deflate_client()
        payload = _text(2000, seed=9)
        data = zlib.compressobj(6, zlib.DEFLATED, -15)
        raw = data.compress(payload) + data.flush(zlib.Z_FINISH)

        def send(c):
            c.send_frame(OP_TEXT, raw, rsv=4)
        self.echo_all(c, send, [msg(payload)])

    def test_several_connections_with_different_windows_interleaved(self):
        # Shared mode shares one compressor per window size; dedicated keeps one per
        # connection. Interleave connections with different agreements.
        agreements = [[Offer(request_max_window_bits=9)],
                      [Offer(request_no_context_takeover=True)],
                      [Offer()],
                      [Offer(request_max_window_bits=12, request_no_context_takeover=True)],
                      [Offer(accept_no_context_takeover=False, request_max_window_bits=10)]]
        clients = [self.deflate_client(o) for o in agreements]
        for c, o in zip(clients, agreements):
            self.check_answer(c, o)
            if c.pmd.server_window < 15:
                c.scan_budget = 1000
        deadline = time.monotonic() + base.BIG_WAIT
        for round_ in range(12):
            for k, c in enumerate(clients):
                p = _text(700 + 900 * k + 50 * round_, seed=round_ * 977 + k)
                c.send_deflated(OP_TEXT, p)
                ev = c.next_event(deadline)
                self.assertEqual(ev[:1], ("message",),
                                 "connection %d round %d: %r" % (k, round_, ev[:2]))
                self.assertEqual(ev[1], p, "connection %d (%r) round %d: echo differs"
                                 % (k, c.pmd, round_))
                self.assertTrue(c.received[-1][0], "echo not compressed with threshold 0")
        for c in clients:
            self.run_client_closes(lambda c: None, [], client=c)

    def test_server_window_respected_for_every_offered_window(self):
        for bits in range(8, 16):
            with self.subTest(server_max_window_bits=bits):
                offers = [Offer(request_max_window_bits=bits)]
                c = self.deflate_client(offers)
                self.check_answer(c, offers)
                self.assertLessEqual(c.pmd.server_window, bits)
                c.scan_budget = 1000
                payloads = [_text(20000, seed=s) for s in (0, 333, 4444)] + [
                    (_text(300) + os.urandom(300)) * 30]

                def send(c, payloads=payloads):
                    for p in payloads:
                        c.send_deflated(OP_BINARY, p)
                self.echo_all(c, send, [msg(p, binary=True) for p in payloads])
                worst = max(d for d, _ in c.scanned)
                self.assertLessEqual(worst, 1 << c.pmd.server_window)

    # -- RSV1 misuse: 1002 ----------------------------------------------------------------

    def test_compressed_ping_is_protocol_error(self):
        c = self.deflate_client()
        self.run_server_fails(lambda c: c.send_frame(OP_PING, b"\x00", rsv=4), client=c)

    def test_compressed_pong_is_protocol_error(self):
        c = self.deflate_client()
        self.run_server_fails(lambda c: c.send_frame(OP_PONG, b"", rsv=4), client=c)

    def test_compressed_close_is_protocol_error(self):
        c = self.deflate_client()
        self.run_server_fails(lambda c: c.send_frame(OP_CLOSE, struct.pack("!H", 1000), rsv=4),
                              client=c)

    def test_rsv1_on_continuation_of_compressed_message(self):
        c = self.deflate_client()
        data = c.deflate(_text(3000))

        def send(c):
            c.send_frame(OP_TEXT, data[:100], fin=False, rsv=4)
            c.send_frame(OP_CONT, data[100:], fin=True, rsv=4)
        self.run_server_fails(send, client=c)

    def test_rsv1_on_continuation_of_plain_message(self):
        c = self.deflate_client()

        def send(c):
            c.send_frame(OP_TEXT, b"plain ", fin=False)
            c.send_frame(OP_CONT, c.deflate(b"then compressed?"), fin=True, rsv=4)
        self.run_server_fails(send, client=c)

    def test_rsv2_and_rsv3_with_deflate_agreed(self):
        for rsv in (2, 1, 6):
            with self.subTest(rsv=rsv):
                c = self.deflate_client()
                self.run_server_fails(lambda c, rsv=rsv: c.send_frame(OP_TEXT, b"x", rsv=rsv),
                                      client=c)

    def test_rsv1_without_offer_is_protocol_error(self):
        c = self.connect(None)
        self.assertIsNone(c.pmd)
        self.run_server_fails(lambda c: c.send_frame(OP_TEXT, zlib.compress(b"hi")[2:-4], rsv=4),
                              client=c)

    # -- bad compressed data --------------------------------------------------------------

    def test_corrupt_compressed_data_is_1007(self):
        c = self.deflate_client()
        # Block type 3 (reserved): invalid DEFLATE.
        self.run_server_fails(lambda c: c.send_frame(OP_BINARY, b"\xff\xff\xff\xff", rsv=4),
                              codes=(base.CLOSE_INVALID_PAYLOAD, base.CLOSE_PROTOCOL_ERROR),
                              hibiki_code=base.CLOSE_INVALID_PAYLOAD, client=c)

    def test_compressed_message_cut_inside_a_block_is_1007(self):
        c = self.deflate_client()
        data = c.deflate(_text(5000))
        self.run_server_fails(lambda c: c.send_frame(OP_TEXT, data[:len(data) // 2], rsv=4),
                              codes=(base.CLOSE_INVALID_PAYLOAD, base.CLOSE_PROTOCOL_ERROR),
                              hibiki_code=base.CLOSE_INVALID_PAYLOAD, client=c)

    def test_distance_before_start_with_client_no_context_takeover_is_1007(self):
        # The agreement says the client resets its window; a message referring back into the
        # previous one cannot be inflated by a server that (rightly) reset its own.
        c = self.deflate_client([Offer()])
        self.assertTrue(c.pmd.client_no_context_takeover)
        first = _text(3000, seed=11)
        comp = zlib.compressobj(6, zlib.DEFLATED, -15)
        d1 = (comp.compress(first) + comp.flush(zlib.Z_SYNC_FLUSH))[:-4]
        d2 = (comp.compress(first) + comp.flush(zlib.Z_SYNC_FLUSH))[:-4]  # refers to message 1

        def send(c):
            c.send_frame(OP_TEXT, d1, rsv=4)
            c.send_frame(OP_TEXT, d2, rsv=4)
        self.run_server_fails(send, expected=[msg(first)],
                              codes=(base.CLOSE_INVALID_PAYLOAD, base.CLOSE_PROTOCOL_ERROR),
                              hibiki_code=base.CLOSE_INVALID_PAYLOAD, client=c)

    def test_compressed_invalid_utf8_text_is_1007(self):
        c = self.deflate_client()
        self.run_server_fails(
            lambda c: c.send_frame(OP_TEXT, c.deflate(b"ok so far " + base.INVALID_6_3), rsv=4),
            codes=(base.CLOSE_INVALID_PAYLOAD,), client=c)

    def test_compressed_text_ending_inside_a_code_point_is_1007(self):
        c = self.deflate_client()
        self.run_server_fails(lambda c: c.send_frame(OP_TEXT, c.deflate(b"abc\xe2\x82"), rsv=4),
                              codes=(base.CLOSE_INVALID_PAYLOAD,), client=c)

    def test_zip_bomb_over_message_limit_is_1009(self):
        c = self.deflate_client()
        comp = zlib.compressobj(9, zlib.DEFLATED, -15)
        chunk = b"\x00" * (1 << 20)
        data = b"".join(comp.compress(chunk) for _ in range(16)) + comp.compress(b"\x00")
        data += comp.flush(zlib.Z_SYNC_FLUSH)
        self.run_server_fails(lambda c: c.send_frame(OP_BINARY, data[:-4], rsv=4),
                              codes=(base.CLOSE_MESSAGE_TOO_BIG,), client=c)

    def test_exactly_message_limit_inflated_is_echoed(self):
        c = self.deflate_client()
        payload = b"\x00" * base.MAX_MESSAGE

        def send(c):
            c.send_frame(OP_BINARY, c.deflate(payload), rsv=4)
        self.echo_all(c, send, [msg(payload, binary=True)])


class ExtrasSharedThreshold0(DeflateExtras, DeflateCase):
    mode = "shared"
    threshold = 0


class ExtrasDedicatedThreshold0(DeflateExtras, DeflateCase):
    mode = "dedicated"
    threshold = 0


# --------------------------------------------------------------------------------------
# Negotiation: what a server may answer (RFC 7692 §7.1), hibiki's choices
# --------------------------------------------------------------------------------------


class NegotiationChecks:
    def answer(self, offer_header):
        c = self.connect(offer_header)
        ans = c.extensions_answer
        self.run_client_closes(lambda c: None, [], client=c)
        return c, ans

    def test_no_offer_no_answer(self):
        c, ans = self.answer(None)
        self.assertIsNone(ans)

    def test_other_extension_only_is_not_answered(self):
        c, ans = self.answer("x-webkit-deflate-frame, permessage-bzip2")
        self.assertIsNone(ans)

    def test_autobahn_offers_answers(self):
        for i, offers in enumerate(OFFERS_13, 1):
            with self.subTest(autobahn="13.%d" % i, offer=offers_header(offers)):
                c = self.connect(offers)
                self.check_answer(c, offers, "13.%d" % i)
                self.run_client_closes(lambda c: None, [], client=c)

    def test_offer_variations(self):
        variations = []
        for cnct in (False, True):
            for cmwb in (False, True, 9, 12, 15):
                for snct in (False, True):
                    for smwb in (0, 8, 9, 11, 15):
                        variations.append(Offer(
                            accept_no_context_takeover=cnct,
                            accept_max_window_bits=cmwb is not False,
                            client_max_window_bits_value=cmwb if cmwb not in (False, True) else 0,
                            request_no_context_takeover=snct, request_max_window_bits=smwb))
        for offer in variations:
            with self.subTest(offer=offer.header()):
                c = self.connect([offer])
                self.check_answer(c, [offer])
                # And a message each way, compressed with what was agreed.
                c.scan_budget = 2 if c.pmd.server_window < 15 else 0
                p = _text(6000, seed=len(offer.header()))
                self.echo_all(c, lambda c, p=p: c.send_deflated(OP_TEXT, p), [msg(p)])

    def test_invalid_offers_are_declined_then_next_accepted(self):
        bad = [
            "permessage-deflate; unknown_param",
            "permessage-deflate; server_max_window_bits",  # value required
            "permessage-deflate; server_max_window_bits=7",
            "permessage-deflate; server_max_window_bits=16",
            "permessage-deflate; server_max_window_bits=010",
            "permessage-deflate; client_max_window_bits=7",
            "permessage-deflate; server_no_context_takeover; server_no_context_takeover",
            "permessage-deflate; client_no_context_takeover=1",
            "permessage-deflate; server_max_window_bits=10; server_max_window_bits=11",
        ]
        for b in bad:
            with self.subTest(offer=b):
                c, ans = self.answer(b)
                self.assertIsNone(ans, "hibiki contract (RFC 7692 §5: decline an invalid offer): "
                                       "%r answered %r" % (b, ans))
                good = Offer(request_max_window_bits=10)
                c = self.connect(b + ", " + good.header())
                self.assertIsNotNone(c.pmd, "%r then a valid offer: declined both" % b)
                self.check_answer(c, [good])
                self.run_client_closes(lambda c: None, [], client=c)

    def test_quoted_values_and_case(self):
        c = self.connect('PerMessage-Deflate; Server_Max_Window_Bits="10"; client_max_window_bits')
        self.assertIsNotNone(c.pmd)
        self.assertLessEqual(c.pmd.server_window, 10)
        self.run_client_closes(lambda c: None, [], client=c)

    def test_offers_in_two_headers(self):
        c = self.connect(["x-unknown-ext", "permessage-deflate; server_max_window_bits=11"])
        self.assertIsNotNone(c.pmd)
        self.assertLessEqual(c.pmd.server_window, 11)
        self.run_client_closes(lambda c: None, [], client=c)


class NegotiationShared(NegotiationChecks, DeflateCase):
    mode = "shared"
    threshold = 0


class NegotiationDedicated(NegotiationChecks, DeflateCase):
    mode = "dedicated"
    threshold = 0


class NegotiationSharedWindow10(NegotiationChecks, DeflateCase):
    """--compression-window-bits 10: the server must limit the client's window only where the
    offer allows it (client_max_window_bits offered), and its own everywhere."""
    mode = "shared"
    threshold = 0
    window_bits = 10


class NegotiationDedicatedWindow9(NegotiationChecks, DeflateCase):
    mode = "dedicated"
    threshold = 0
    window_bits = 9


class CompressionOff(DeflateCase):
    """--compression off: offers are ignored and RSV1 is a protocol error."""
    mode = "off"

    @classmethod
    def make_args(cls):
        return ("--compression", "off")

    def test_offer_not_answered(self):
        c = self.connect([Offer()])
        self.assertIsNone(c.extensions_answer)
        self.run_client_closes(lambda c: c.send_frame(OP_TEXT, b"plain"), [msg(b"plain")],
                               client=c)

    def test_rsv1_after_declined_offer_is_protocol_error(self):
        c = self.connect([Offer()])
        self.assertIsNone(c.pmd)
        self.run_server_fails(lambda c: c.send_frame(OP_TEXT, zlib.compress(b"hi")[2:-4], rsv=4),
                              client=c)


if __name__ == "__main__":
    unittest.main()
