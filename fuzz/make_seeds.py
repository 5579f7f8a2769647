#!/usr/bin/env python3
"""Writes the seed corpora in fuzz/corpus/<target>/: valid inputs in each target's layout.

Run from anywhere: python3 fuzz/make_seeds.py. It rewrites only the files it names, so seeds
added by hand (or minimised from a long run) stay. Layouts are in each target's header comment.
"""
import json
import os
import struct
import zlib

HERE = os.path.dirname(os.path.abspath(__file__))
KEY = bytes([0x37, 0xFA, 0x21, 0x3D])  # RFC 6455 §5.7's masking key


def write(target, name, data):
    folder = os.path.join(HERE, "corpus", target)
    os.makedirs(folder, exist_ok=True)
    with open(os.path.join(folder, name), "wb") as f:
        f.write(data)


def crlf(*lines):
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


# Upgrade requests as browsers send them (header order and values as they are on the wire).
REQUESTS = {
    "rfc6455": crlf(
        "GET /chat HTTP/1.1", "Host: server.example.com", "Upgrade: websocket",
        "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Origin: http://example.com", "Sec-WebSocket-Protocol: chat, superchat",
        "Sec-WebSocket-Version: 13"),
    "chromium": crlf(
        "GET / HTTP/1.1", "Host: localhost:8080", "Connection: Upgrade", "Pragma: no-cache",
        "Cache-Control: no-cache",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
        "Chrome/120.0.0.0 Safari/537.36",
        "Upgrade: websocket", "Origin: http://localhost:8080", "Sec-WebSocket-Version: 13",
        "Accept-Encoding: gzip, deflate, br", "Accept-Language: en-US,en;q=0.9",
        "Sec-WebSocket-Key: x3JJHMbDL1EzLkh9GBhXDw==",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits"),
    "firefox": crlf(
        "GET /ws HTTP/1.1", "Host: localhost:8080",
        "User-Agent: Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
        "Accept: */*", "Accept-Language: en-US,en;q=0.5", "Accept-Encoding: gzip, deflate, br",
        "Sec-WebSocket-Version: 13", "Origin: http://localhost:8080",
        "Sec-WebSocket-Extensions: permessage-deflate",
        "Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA==", "Connection: keep-alive, Upgrade",
        "Sec-Fetch-Dest: empty", "Sec-Fetch-Mode: websocket", "Sec-Fetch-Site: same-origin",
        "Pragma: no-cache", "Cache-Control: no-cache", "Upgrade: websocket"),
    "safari": crlf(
        "GET /ws?room=lobby HTTP/1.1", "Host: example.com", "Upgrade: websocket",
        "Connection: Upgrade", "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13", "Origin: https://example.com",
        "User-Agent: Mozilla/5.0 (Macintosh; Intel Mac OS X 10_15_7) AppleWebKit/605.1.15 "
        "(KHTML, like Gecko) Version/17.2 Safari/605.1.15",
        "Sec-WebSocket-Extensions: permessage-deflate"),
    "node_ws": crlf(
        "GET / HTTP/1.1", "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Key: 1x2y3z4A5B6C7D8E9F0GHg==", "Connection: Upgrade",
        "Upgrade: websocket", "Sec-WebSocket-Protocol: chat",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        "Host: 127.0.0.1:9001"),
    "python_websockets": crlf(
        "GET /ws HTTP/1.1", "Host: [::1]:8080", "Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Key: +/+/+/+/+/+/+/+/+/+/+w==", "Sec-WebSocket-Version: 13",
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits",
        "User-Agent: Python/3.11 websockets/10.4"),
    "page_get": crlf(
        "GET / HTTP/1.1", "Host: localhost:8080", "Connection: keep-alive",
        "Accept: text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8",
        "If-None-Match: \"abc\""),
    "health_http10": crlf("GET /health HTTP/1.0"),
    "head": crlf("HEAD /app.js HTTP/1.1", "Host: localhost"),
    "post": crlf("POST /api?x=1&y=2 HTTP/1.1", "Host: a", "Content-Length: 0",
                 "X-Empty:", "X-Tabs:\t value \t"),
    "version8": crlf(
        "GET / HTTP/1.1", "Host: localhost", "Upgrade: websocket", "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 8"),
    "two_upgrade_headers": crlf(
        "GET / HTTP/1.1", "Host: localhost", "Upgrade: h2c", "Upgrade: WebSocket",
        "Connection: keep-alive", "Connection: upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13",
        "Origin: HTTP://LOCALHOST:8080"),
}


def http_request_seeds():
    for name, request in REQUESTS.items():
        for split in (0, 100, 255):
            write("http_request_fuzz", f"{name}_split{split}", bytes([split]) + request)
    # A head that arrives with the first frame right behind it.
    write("http_request_fuzz", "rfc6455_then_frame",
          bytes([128]) + REQUESTS["rfc6455"] + bytes.fromhex("818537fa213d7f9f4d5158"))


def upgrade(*extra, first="GET /ws HTTP/1.1", key="dGhlIHNhbXBsZSBub25jZQ=="):
    """A minimal upgrade request plus extra header lines."""
    return crlf(first, "Host: localhost:8080", "Upgrade: websocket", "Connection: Upgrade",
                f"Sec-WebSocket-Key: {key}", "Sec-WebSocket-Version: 13", *extra)


# Requests each check of §4.2.1 answers differently, and list-valued headers.
HANDSHAKE_VARIANTS = {
    "minimal": upgrade(),
    "origin_localhost": upgrade("Origin: http://localhost:8080"),
    "origin_example_upper": upgrade("Origin: HTTPS://EXAMPLE.COM"),
    "origin_other": upgrade("Origin: http://evil.example"),
    "protocols_list": upgrade("Sec-WebSocket-Protocol: chat,  superchat ,, v2.chat"),
    "protocols_two_headers": upgrade("Sec-WebSocket-Protocol: a", "Sec-WebSocket-Protocol: b"),
    "extensions_params": upgrade(
        "Sec-WebSocket-Extensions: permessage-deflate; client_max_window_bits=10; "
        "server_no_context_takeover, x-webkit-deflate-frame"),
    "lowercase_names": crlf("GET / HTTP/1.1", "host: a", "upgrade: WEBSOCKET",
                            "connection: keep-alive,upgrade", "sec-websocket-version: 13",
                            "sec-websocket-key: AAAAAAAAAAAAAAAAAAAAAA=="),
    "http10": upgrade(first="GET / HTTP/1.0"),
    "post": upgrade(first="POST /ws HTTP/1.1"),
    "key_too_short": upgrade(key="dGhlIHNhbXBsZQ=="),
    "key_no_padding": upgrade(key="dGhlIHNhbXBsZSBub25jZQAA"),
    "two_keys": upgrade("Sec-WebSocket-Key: AQIDBAUGBwgJCgsMDQ4PEA=="),
    "two_hosts": upgrade("Host: other"),
    "no_host": crlf("GET / HTTP/1.1", "Upgrade: websocket", "Connection: Upgrade",
                    "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==", "Sec-WebSocket-Version: 13"),
    "no_connection": crlf("GET / HTTP/1.1", "Host: a", "Upgrade: websocket",
                          "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
                          "Sec-WebSocket-Version: 13"),
    "upgrade_with_params": upgrade("Upgrade: foo/1, websocket;q=1"),
    "query_target": upgrade(first="GET /ws?room=lobby&since=42 HTTP/1.1"),
}


def handshake_seeds():
    for name, request in {**REQUESTS, **HANDSHAKE_VARIANTS}.items():
        write("handshake_fuzz", name, request)


def frame(opcode, payload=b"", fin=True, masked=True, rsv1=False, length_form=None):
    """One frame; length_form 16 or 64 forces that (possibly non-minimal) length encoding."""
    b0 = (0x80 if fin else 0) | (0x40 if rsv1 else 0) | opcode
    n = len(payload)
    mask_bit = 0x80 if masked else 0
    if length_form is None:
        length_form = 7 if n <= 125 else 16 if n <= 0xFFFF else 64
    if length_form == 7:
        head = bytes([b0, mask_bit | n])
    elif length_form == 16:
        head = bytes([b0, mask_bit | 126]) + struct.pack(">H", n)
    else:
        head = bytes([b0, mask_bit | 127]) + struct.pack(">Q", n)
    if not masked:
        return head + payload
    return head + KEY + bytes(b ^ KEY[i % 4] for i, b in enumerate(payload))


def close_payload(code, reason=b""):
    return struct.pack(">H", code) + reason


TEXT, BINARY, CONT, CLOSE, PING, PONG = 0x1, 0x2, 0x0, 0x8, 0x9, 0xA


def frame_streams(masked):
    """Valid streams in one role: what a browser (masked) or a server (unmasked) sends."""
    f = lambda *a, **k: frame(*a, masked=masked, **k)  # noqa: E731
    euro = "€".encode()
    return {
        "hello": f(TEXT, b"Hello"),
        "empty_text": f(TEXT),
        "binary_256": f(BINARY, bytes(range(256))),
        "text_16bit_len": f(TEXT, b"x" * 300),
        "text_64bit_len_nonminimal": f(TEXT, b"abc", length_form=64),
        "text_16bit_len_nonminimal": f(TEXT, b"abc", length_form=16),
        "fragmented_hello": f(TEXT, b"Hel", fin=False) + f(CONT, b"lo"),
        "fragmented_with_ping": f(TEXT, b"Hel", fin=False) + f(PING, b"ping")
        + f(CONT, b"l", fin=False) + f(PONG) + f(CONT, b"o"),
        "fragmented_utf8_split": f(TEXT, euro[:1], fin=False) + f(CONT, euro[1:2], fin=False)
        + f(CONT, b"", fin=False) + f(CONT, euro[2:]),
        "fragmented_binary_empty_parts": f(BINARY, b"", fin=False) + f(CONT, b"", fin=False)
        + f(CONT, b"\x00\xff"),
        "ping_hello": f(PING, b"Hello"),
        "pong_hello": f(PONG, b"Hello"),
        "ping_125": f(PING, b"p" * 125),
        "close_empty": f(CLOSE),
        "close_1000_bye": f(CLOSE, close_payload(1000, b"bye")),
        "close_1001": f(CLOSE, close_payload(1001)),
        "close_4000_utf8": f(CLOSE, close_payload(4000, "déjà vu €😀".encode())),
        "close_123_reason": f(CLOSE, close_payload(3000, b"r" * 123)),
        "chat_message": f(TEXT, json.dumps({"action": "message", "message": "hi ☃"}).encode()),
        "utf8_text": f(TEXT, "κόσμε 你好 😀 Hello-µ@ßöäüàá-UTF-8!!".encode()),
        "many_messages": f(TEXT, b"one") + f(BINARY, b"two") + f(PING) + f(TEXT, b"three")
        + f(CLOSE, close_payload(1000)),
    }


def frame_stream_seeds():
    # Config byte: bit 0 client role, bits 1-3 message limit (0 = 16 MiB), bit 4 allow_rsv1.
    for role, config, masked in (("server", 0x00, True), ("client", 0x01, False)):
        for name, stream in frame_streams(masked).items():
            write("frame_stream_fuzz", f"{role}_{name}", bytes([config, 0]) + stream)
    # RFC 6455 §5.7's vectors, byte for byte.
    rfc = {
        "server_rfc_masked_hello": (0x00, "818537fa213d7f9f4d5158"),
        "client_rfc_hello": (0x01, "810548656c6c6f"),
        "client_rfc_fragmented": (0x01, "010348656c80026c6f"),
        "client_rfc_ping": (0x01, "890548656c6c6f"),
        "server_rfc_masked_pong": (0x00, "8a8537fa213d7f9f4d5158"),
        "client_rfc_binary_256_header": (0x01, "827e0100" + "00" * 256),
    }
    for name, (config, hexbytes) in rfc.items():
        write("frame_stream_fuzz", name, bytes([config, 0]) + bytes.fromhex(hexbytes))
    # Chunk tapes: split the masked hello at every point, and a fragmented stream oddly.
    hello = bytes.fromhex("818537fa213d7f9f4d5158")
    write("frame_stream_fuzz", "server_rfc_hello_tape_1", bytes([0x00, 1]) + hello + b"\x01")
    write("frame_stream_fuzz", "server_rfc_hello_tape_3_0_5",
          bytes([0x00, 3]) + hello + bytes([3, 0, 5]))
    frag = frame_streams(True)["fragmented_with_ping"]
    write("frame_stream_fuzz", "server_fragmented_with_ping_tape",
          bytes([0x00, 4]) + frag + bytes([2, 7, 1, 13]))
    # Message limits: exactly at 125 and 126 bytes, and permessage-deflate's RSV1.
    write("frame_stream_fuzz", "server_limit125_text_125",
          bytes([0x08, 0]) + frame(TEXT, b"a" * 125))
    write("frame_stream_fuzz", "client_limit126_fragments_126",
          bytes([0x0B, 0]) + frame(TEXT, b"a" * 100, fin=False, masked=False)
          + frame(CONT, b"b" * 26, masked=False))
    write("frame_stream_fuzz", "server_rsv1_compressed",
          bytes([0x10, 0]) + frame(TEXT, bytes.fromhex("f248cdc9c90700"), rsv1=True)
          + frame(BINARY, b"\x00", rsv1=True, fin=False) + frame(CONT, b"\x01"))


UTF8_TEXTS = {
    "ascii": b"Hello, world!",
    "empty": b"",
    "autobahn_6_2": "Hello-µ@ßöäüàá-UTF-8!!".encode(),
    "kosme": "κόσμε".encode(),
    "boundaries_low": "\u0000\u007f\u0080\u07ff\u0800".encode(),
    "boundaries_high": "\uffff\U00010000\U0010ffff".encode(),
    "surrogate_neighbours": "\ud7ff\ue000".encode(),
    "emoji": "😀👍🏽🇯🇵".encode(),
    "cjk": "你好，世界。こんにちは".encode(),
    "long_ascii_100": b"a" * 100,
    "long_mixed_200": ("ab€😀ß" * 20).encode(),
    "json_chat": '{"action":"message","message":"héllo ☃"}'.encode(),
    # The invalid forms §3 of RFC 3629 names, right after a valid prefix.
    "invalid_overlong_c0": b"ok\xc0\x80",
    "invalid_surrogate_ed_a0": b"ok\xed\xa0\x80",
    "invalid_past_10ffff": b"ok\xf4\x90\x80\x80",
    "invalid_truncated_end": "ok€".encode()[:-1],
    "invalid_stray_continuation": b"ok\x80ok",
    "invalid_latin1": "café".encode("latin-1"),
    "invalid_five_byte_form": b"\xf8\x88\x80\x80\x80",
    "bom_and_nbsp": "\ufeff\u00a0\u200b".encode(),
    "rtl_and_combining": "שלום e\u0301".encode(),
    "ascii_64_then_4byte": b"a" * 63 + "😀".encode(),
    "all_ascii": bytes(range(128)),
}


def utf8_seeds():
    for name, text in UTF8_TEXTS.items():
        write("utf8_fuzz", name, b"\x00" + text)
    # The same texts cut into chunks: 1, 2, 3 bytes (mid code point), and a 64+ SIMD chunk.
    mixed = ("ab€😀ß" * 20).encode()
    write("utf8_fuzz", "long_mixed_tape_1_2_3", bytes([3]) + mixed + bytes([1, 2, 3]))
    write("utf8_fuzz", "long_mixed_tape_70_5", bytes([2]) + mixed + bytes([70, 5]))
    write("utf8_fuzz", "emoji_tape_1", bytes([1]) + UTF8_TEXTS["emoji"] + bytes([1]))
    write("utf8_fuzz", "long_ascii_tape_64_0", bytes([2]) + b"a" * 100 + bytes([64, 0]))


def deflate_messages(*payloads):
    """The permessage_deflate_fuzz body: each message as a 2-byte length and its bytes."""
    return b"".join(struct.pack(">H", len(p)) + p for p in payloads)


def compress_messages(texts, wbits=15, takeover=True, level=6):
    """What a client sends: raw DEFLATE, sync flush, the 00 00 FF FF tail removed (§7.2.1)."""
    out = []
    c = zlib.compressobj(level, zlib.DEFLATED, -wbits)
    for text in texts:
        if not takeover:
            c = zlib.compressobj(level, zlib.DEFLATED, -wbits)
        data = c.compress(text) + c.flush(zlib.Z_SYNC_FLUSH)
        assert data.endswith(b"\x00\x00\xff\xff")
        out.append(data[:-4])
    return out


def permessage_deflate_seeds():
    # Config byte: bits 0-2 window bits - 8, bit 3 no_context_takeover, bits 4-5 cap
    # (1 MiB, 0, 1, 300), bit 6 release() after each message.
    rfc = {  # RFC 7692 §7.2.3's examples
        "rfc_hello": ["f248cdc9c90700"],
        "rfc_hello_shared_window": ["f248cdc9c90700", "f200110000"],
        "rfc_stored_block": ["0005 00faff48656c6c6f00"],
        "rfc_bfinal": ["f348cdc9c90700 00"],
        "rfc_two_blocks": ["f2480500 0000ffff cac9c90700"],
        "rfc_empty": ["00"],
    }
    for name, hexes in rfc.items():
        body = deflate_messages(*(bytes.fromhex(h.replace(" ", "")) for h in hexes))
        write("permessage_deflate_fuzz", name, bytes([0x07, 0]) + body)
    texts = [b"Hello", "héllo ☃ 😀".encode(), b"abc" * 100, bytes(range(256)), b""]
    for wbits in (8, 9, 12, 15):
        for takeover in (True, False):
            config = (wbits - 8) | (0 if takeover else 0x08)
            # zlib refuses a raw 8-bit window to compress with; 9 stays within 256 bytes here.
            compressed = compress_messages(texts, max(wbits, 9), takeover)
            write("permessage_deflate_fuzz", f"texts_w{wbits}_{'takeover' if takeover else 'nct'}",
                  bytes([config, 0]) + deflate_messages(*compressed))
    chat = json.dumps({"action": "message", "message": "hi there"}).encode()
    compressed = compress_messages([chat, chat, chat])
    write("permessage_deflate_fuzz", "chat_three_times_tape",
          bytes([0x07, 3]) + deflate_messages(*compressed) + bytes([1, 5, 0]))
    write("permessage_deflate_fuzz", "cap_300_release",
          bytes([0x07 | 0x30 | 0x40, 0]) + deflate_messages(*compress_messages([b"x" * 1000])))
    write("permessage_deflate_fuzz", "bomb_1mib",
          bytes([0x07, 0]) + deflate_messages(*compress_messages([b"\x00" * (1 << 20)], level=9)))


CHAT = {
    "message": {"action": "message", "message": "hello"},
    "message_escapes": {"action": "message", "message": "quote \" backslash \\ tab \t nl \n"},
    "message_unicode": {"action": "message", "message": "héllo ☃ 😀"},
    "message_room": {"action": "message", "message": "hi", "room": "lobby"},
    "hello": {"action": "hello"},
    "hello_name_since": {"action": "hello", "name": "alice", "since": 42},
    "hello_null_name": {"action": "hello", "name": None},
    "join": {"action": "join", "room": "general", "since": 0},
    "leave": {"action": "leave", "room": "general"},
    "nick": {"action": "nick", "name": "Bob-2"},
    "history": {"action": "history", "room": "lobby", "before": 100},
    "unknown_action": {"action": "dance"},
    "extra_keys": {"action": "message", "message": "x", "extra": [1, 2.5, {"a": True}]},
    "message_empty": {"action": "message", "message": ""},
    "message_blank": {"action": "message", "message": " \t "},
    "message_long": {"action": "message", "message": "ab€😀" * 200},
    "message_controls": {"action": "message", "message": "\u0001\u001f\u007f\b\f\r"},
    "message_not_string": {"action": "message", "message": 42},
    "join_bad_room": {"action": "join", "room": "Not A Room!"},
    "hello_name_unicode": {"action": "hello", "name": "zoë_日本"},
    "history_null_before": {"action": "history", "room": "lobby", "before": None},
    "hello_negative_since": {"action": "hello", "since": -1},
    "action_not_string": {"action": 1},
    "duplicate_keys_later": {"message": "first", "action": "message"},
}


def chat_seeds():
    for name, value in CHAT.items():
        write("chat_json_fuzz", name, json.dumps(value, ensure_ascii=False).encode())
    # Escapes as browsers' JSON.stringify and other clients may send them.
    write("chat_json_fuzz", "message_u_escapes",
          b'{"action":"message","message":"\\u00e9\\u2603\\ud83d\\ude00\\u0000\\/"}')
    write("chat_json_fuzz", "message_whitespace", b' { "action" : "message" ,\n"message":"a" } ')
    write("chat_json_fuzz", "not_object", b'["action","message"]')
    write("chat_json_fuzz", "duplicate_action", b'{"action":"hello","action":"message","message":"x"}')
    write("chat_json_fuzz", "big_number", b'{"action":"hello","since":18446744073709551616}')
    write("chat_json_fuzz", "talk_page_message", b'{"action":"message","message":"Hi from the talk"}')


# gateway_message_fuzz: [flags][expression]\n[message]; flags bit 0 binary, bit 1 default selector.
# The message's first line is also the user agent, further lines CONNECT headers "name:value".
GATEWAY_MESSAGES = {
    "action_join": b"\x00$request.body.action\n" + b'{"action":"join","room":"lobby"}',
    "action_default": b"\x00$request.body.action\n" + b'{"action":"unknown","text":"hi"}',
    "nested_key": b"\x00$request.body.meta.type\n" + b'{"meta":{"type":"sendmessage"},"n":1}',
    "number_key": b"\x00$request.body.n\n" + b'{"n":3}',
    "number_as_written": b"\x00$request.body.v\n" + b'{"v":1.50 }',
    "bool_key": b"\x00$request.body.ok\n" + b'{"ok":true}',
    "escaped_key": b"\x00$request.body.action\n" + b'{"\\u0061ction":"join"}',
    "template_refused": b"\x00${request.body.action}\n" + b'{"action":"join"}',
    "not_json": b"\x02a=1&b=x%20y&a=2&c\nhello there",
    "binary": b"\x03conn-Id+/=\n\x00\x01\xff\xfe binary \x80",
    "invalid_utf8_text": b"\x00$request.body.action\n" + b'{"action":"\xc3\x28"}',
    "connect_headers": b"\x02token=abc&room=lobby\n"
        b"Mozilla/5.0 (X11; Linux x86_64) Firefox/121.0\n"
        b"Host:localhost:8080\nSec-WebSocket-Protocol:chat\nhost:other\nX-Empty:\n"
        b"Cookie:a=1; b=2\ncookie:c=3",
}

# gateway_management_fuzz: method, path, stage, Authorization, query, status, headers, "", body.
SIGV4_AUTH = (b"AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20260115/us-east-1/execute-api/"
              b"aws4_request, SignedHeaders=content-type;host;x-amz-date, Signature="
              + b"5d672d79c15b13162d9279b0855cfba6789a8edb4c82c400e06b5924a6f2b5d7")


def management(method, path, stage=b"dev", auth=b"", query=b"", status=b"200", headers=(),
               body=b""):
    return b"\n".join([method, path, stage, auth, query, status, *headers, b"", body])


GATEWAY_MANAGEMENT = {
    "post_to_connection": management(b"POST", b"/dev/@connections/L0SM9cOFvHcCIhw%3D",
                                     auth=SIGV4_AUTH,
                                     headers=[b"Host:localhost:8081",
                                              b"Content-Type:application/json",
                                              b"X-Amz-Date:20260115T123600Z"],
                                     body=b'{"message":"hello"}'),
    "get_connection": management(b"GET", b"/dev/%40connections/abc+def=", auth=b"Bearer t0k3n"),
    "delete_connection": management(b"DELETE", b"/dev/@connections/abc", status=b"204"),
    "publish_topic": management(b"POST", b"/dev/@topics/room%2F1", body=b"news"),
    "subscribe": management(b"PUT", b"/dev/@topics/lobby/@connections/abc%3D"),
    "unsubscribe": management(b"DELETE", b"/dev/@topics/lobby/@connections/abc"),
    "other_stage": management(b"GET", b"/prod/@connections/abc", status=b"403"),
    "bad_escape": management(b"GET", b"/dev/@connections/a%zz", query=b"a=%zz&b=1"),
    "dot_segments": management(b"POST", b"/dev/./@connections/../@connections//abc",
                               query=b"b=2&a=1&a=0&c", auth=SIGV4_AUTH),
    "lambda_proxy": management(b"POST", b"/", status=b"200", body=json.dumps({
        "statusCode": 200, "body": "aGVsbG8=", "isBase64Encoded": True,
        "headers": {"Sec-WebSocket-Protocol": "chat", "X-Count": 3},
        "multiValueHeaders": {"Set-Cookie": ["a=1", "b=2"]}}).encode()),
    "lambda_proxy_bad_status": management(b"POST", b"/", body=b'{"statusCode":700,"body":"x"}'),
    "backend_error": management(b"POST", b"/", status=b"503", body=b"Service Unavailable"),
    "plain_backend": management(b"POST", b"/", status=b"201", body=b"ok"),
}

# gateway_config_fuzz: a configuration file's text.
GATEWAY_CONFIGS = {
    "php_chat": b"""[gateway]
host = "0.0.0.0"
port = 8080
stage = "dev"
api_id = "local"
profile = "aws"
route_selection_expression = "$request.body.action"

[management]
host = "127.0.0.1"
port = 8081

[registry]
path = "data/gateway.sqlite3"

[routes."$connect"]
integration = "http://127.0.0.1:8000/"

[routes."$disconnect"]
integration = "http://127.0.0.1:8000/"

[routes."message"]
integration = "http://127.0.0.1:8000/"
""",
    "relaxed_limits": b"""[gateway]
profile = "relaxed"
connect_refusal = 401
idle_timeout_s = 0
max_message_bytes = 65536
new_connections_per_second = 100
route_selection_expression = "$request.body.meta.type"

[management]
token = "s3cret"
sigv4_access_key_id = "AKIDEXAMPLE"
sigv4_secret_access_key = "wJalrXUtnFEMI/K7MDENG/bPxRfiCYEXAMPLEKEY"

[registry]
path = ":memory:"

[routes."$default"]
integration = "https://[::1]:9443/events?x=1"
timeout_ms = 50
route_response = true

[routes.sendmessage]
integration = "http://backend.internal:8000"
timeout_ms = 29000
""",
    "empty": b"",
    "frame_over_message": b"[gateway]\nmax_frame_bytes = 70000\nmax_message_bytes = 65536\n",
    "timeout_out_of_range": b'[routes."$connect"]\nintegration = "http://x/"\ntimeout_ms = 29001\n',
    "route_response_on_connect": b'[routes."$connect"]\nintegration = "http://x/"\nroute_response = true\n',
    "unknown_key": b"[gateway]\nprot = 8080\n",
    "syntax_error": b"[gateway\nport = 8080\n",
    "template_expression": b'[gateway]\nroute_selection_expression = "${request.body.action}"\n',
    "inline_tables": b'routes = { "$default" = { integration = "http://127.0.0.1:1/" } }\n'
                     b'gateway = { port = 0, stage = "a_b-1" }\n',
}


def gateway_seeds():
    for name, data in GATEWAY_MESSAGES.items():
        write("gateway_message_fuzz", name, data)
    for name, data in GATEWAY_MANAGEMENT.items():
        write("gateway_management_fuzz", name, data)
    for name, data in GATEWAY_CONFIGS.items():
        write("gateway_config_fuzz", name, data)


# HTTP/2 (h2_session_fuzz): frames by hand, header blocks as HPACK literals without indexing
# (RFC 7541 §6.2.2, no Huffman), so every byte is what a reader of the RFC expects.
H2_PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"


def h2_frame(kind, flags, stream, payload=b""):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def hpack(*fields):
    out = b""
    for name, value in fields:
        name, value = name.encode(), value.encode()
        out += b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value
    return out


def h2_headers(stream, *fields, end_stream=False):
    return h2_frame(1, 0x04 | (0x01 if end_stream else 0), stream, hpack(*fields))


def h2_data(stream, payload, end_stream=False):
    return h2_frame(0, 0x01 if end_stream else 0, stream, payload)


def h2_connect(stream, path="/"):
    return h2_headers(stream, (":method", "CONNECT"), (":protocol", "websocket"),
                      (":scheme", "https"), (":path", path), (":authority", "localhost"),
                      ("sec-websocket-version", "13"), ("sec-websocket-protocol", "chat"))


def h2_seeds():
    start = H2_PREFACE + h2_frame(4, 0, 0) + h2_frame(4, 0x01, 0)  # SETTINGS, then the ACK
    no_tape = b"\x00"
    get = h2_headers(1, (":method", "GET"), (":scheme", "https"), (":path", "/metrics"),
                     (":authority", "localhost"), end_stream=True)
    write("h2_session_fuzz", "get", no_tape + start + get)
    post = h2_headers(1, (":method", "POST"), (":scheme", "https"), (":path", "/api"),
                      (":authority", "localhost"), ("content-length", "5")) + h2_data(1, b"hello", True)
    write("h2_session_fuzz", "post_body", no_tape + start + post)
    hello = frame(0x1, b"Hello")
    close = frame(0x8, close_payload(1000, b"bye"))
    tunnel = h2_connect(1) + h2_data(1, hello) + h2_data(1, close) + h2_data(1, b"", True)
    write("h2_session_fuzz", "websocket_echo_close", no_tape + start + tunnel)
    # The same in chunks of 7 and 1 bytes: frames split anywhere.
    write("h2_session_fuzz", "websocket_echo_close_tape_7_1", b"\x02\x07\x01" + start + tunnel)
    fragmented = frame(0x1, b"frag", fin=False) + frame(0x9, b"p") + frame(0x0, b"ment")
    write("h2_session_fuzz", "websocket_fragments_across_data",
          no_tape + start + h2_connect(1) + h2_data(1, fragmented[:5]) + h2_data(1, fragmented[5:]))
    two = h2_connect(1) + h2_connect(3, "/ws") + h2_data(3, hello) + h2_frame(3, 0, 1, struct.pack(">I", 8))
    write("h2_session_fuzz", "two_tunnels_one_reset", no_tape + start + two)
    control = (h2_frame(6, 0, 0, b"12345678") + h2_frame(8, 0, 0, struct.pack(">I", 1 << 20)) +
               h2_frame(7, 0, 0, struct.pack(">II", 0, 0)))
    write("h2_session_fuzz", "ping_window_goaway", no_tape + start + control)
    write("h2_session_fuzz", "bad_protocol",
          no_tape + start + h2_headers(1, (":method", "CONNECT"), (":protocol", "chat"),
                                       (":scheme", "https"), (":path", "/"),
                                       (":authority", "x")))
    write("h2_session_fuzz", "http1_instead", no_tape + b"GET / HTTP/1.1\r\nHost: x\r\n\r\n")


if __name__ == "__main__":
    http_request_seeds()
    handshake_seeds()
    frame_stream_seeds()
    utf8_seeds()
    permessage_deflate_seeds()
    chat_seeds()
    gateway_seeds()
    h2_seeds()
