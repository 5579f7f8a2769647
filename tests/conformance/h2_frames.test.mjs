// A subset of the Autobahn|Testsuite cases (framing, pings, reserved bits and opcodes,
// fragmentation, UTF-8, close) replayed over a WebSocket on an HTTP/2 stream (RFC 8441)
// against `hibiki echo` with TLS. The frames are built byte by byte (tests/integration/lib/
// h2ws.mjs) and, where Autobahn chops them octet-wise, each byte goes in a DATA frame of its
// own. The verdicts are the HTTP/1.1 suite's (autobahn_cases_test.py): the echo or pong
// expected, or the close code expected.
//   HIBIKI_BIN=build/debug/hibiki node --test tests/conformance/
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { connectH2, frame, openWebSocket } from '../integration/lib/h2ws.mjs';
import { withTimeout } from '../integration/lib/server.mjs';
import { makeCertificate, startTlsServer, stopServer } from '../integration/lib/tls_server.mjs';

const TEXT = 1;
const BINARY = 2;
const CLOSE = 8;
const PING = 9;
const PONG = 10;
const CONT = 0;

const bytes = (...b) => Buffer.from(b);
const closePayload = (code, reason = Buffer.alloc(0)) => {
  const p = Buffer.alloc(2);
  p.writeUInt16BE(code);
  return Buffer.concat([p, reason]);
};
// "κόσμε" with a UTF-16 surrogate (ED A0 80) in the middle: invalid UTF-8 (Autobahn 6.3.1).
const BAD_UTF8 = bytes(0xce, 0xba, 0xe1, 0xbd, 0xb9, 0xcf, 0x83, 0xce, 0xbc, 0xce, 0xb5, 0xed,
  0xa0, 0x80, 0x65, 0x64, 0x69, 0x74, 0x65, 0x64);
const KOSME = Buffer.from('κόσμε');

function octetWise(ws, buffer) {
  for (const b of buffer) ws.sendRaw(Buffer.from([b]));
}

describe('Autobahn subset over an HTTP/2 stream', { timeout: 120_000 }, () => {
  let dir;
  let server;
  let session;
  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hibiki-h2-conf-'));
    const cert = makeCertificate(dir);
    server = await startTlsServer('echo', cert, ['--close-timeout', '1']);
    session = await connectH2(server.port, cert.pem);
  });
  after(async () => {
    session?.close();
    await stopServer(server);
    rmSync(dir, { recursive: true, force: true });
  });

  async function open() {
    const ws = await openWebSocket(session, '/');
    assert.equal(ws.status, 200);
    return ws;
  }

  async function expectClose(ws, code, what) {
    const closed = await withTimeout(ws.closed, 3000, `the close for ${what}`);
    assert.equal(closed.code, code, what);
  }

  // 1.1.* / 1.2.*: payload lengths around the 7-bit, 16-bit and 64-bit boundaries.
  for (const [opcode, name] of [[TEXT, 'text'], [BINARY, 'binary']]) {
    test(`1.${opcode}.1-8 ${name} of 0, 125, 126, 127, 128, 65535, 65536 bytes`, async () => {
      const ws = await open();
      for (const n of [0, 125, 126, 127, 128, 65535, 65536]) {
        const payload = Buffer.alloc(n, opcode === TEXT ? 0x2a : 0xfe);
        ws.sendFrame(opcode, payload);
        const m = await ws.next();
        assert.equal(m.isBinary, opcode === BINARY);
        assert.equal(Buffer.compare(m.data, payload), 0, `${n} bytes`);
      }
      const chopped = Buffer.alloc(65536, 0x2a);
      const whole = frame(opcode, chopped);
      for (let at = 0; at < whole.length; at += 997) ws.sendRaw(whole.subarray(at, at + 997));
      assert.equal(Buffer.compare((await ws.next()).data, chopped), 0, '65536 in 997-byte chops');
      ws.close();
      await expectClose(ws, 1000, 'the normal close');
    });
  }

  test('2.1-2.4, 2.6: pings get pongs with their payload, also octet-wise', async () => {
    const ws = await open();
    for (const payload of [Buffer.alloc(0), Buffer.from('Hello, world!'), bytes(0, 255, 254),
      Buffer.alloc(125, 0xfe)]) {
      ws.sendFrame(PING, payload);
      assert.equal(Buffer.compare(await ws.nextPong(), payload), 0);
    }
    octetWise(ws, frame(PING, Buffer.alloc(125, 0x31)));
    assert.equal((await ws.nextPong()).length, 125);
    ws.sendFrame(PONG, Buffer.from('unsolicited'));  // 2.8: ignored
    ws.sendFrame(TEXT, Buffer.from('after pong'));
    assert.equal((await ws.next()).text, 'after pong');
    ws.close();
    await expectClose(ws, 1000, 'the normal close');
  });

  const failures = [
    ['2.5 ping with 126 bytes', (ws) => ws.sendFrame(PING, Buffer.alloc(126)), 1002],
    ['3.1 text with RSV1 (no extension)', (ws) => ws.sendFrame(TEXT, Buffer.from('x'),
      { rsv: 4 }), 1002],
    ['3.3 text with RSV3', (ws) => ws.sendFrame(TEXT, Buffer.from('x'), { rsv: 3 }), 1002],
    ['4.1.1 reserved opcode 3', (ws) => ws.sendFrame(3, Buffer.alloc(0)), 1002],
    ['4.2.1 reserved opcode 11', (ws) => ws.sendFrame(11, Buffer.alloc(0)), 1002],
    ['5.1 fragmented ping', (ws) => {
      ws.sendFrame(PING, Buffer.from('frag'), { fin: false });
      ws.sendFrame(CONT, Buffer.from('ment'));
    }, 1002],
    ['5.9 continuation with nothing to continue', (ws) => ws.sendFrame(CONT,
      Buffer.from('x')), 1002],
    ['5.18 two fragments both with a text opcode', (ws) => {
      ws.sendFrame(TEXT, Buffer.from('one'), { fin: false });
      ws.sendFrame(TEXT, Buffer.from('two'));
    }, 1002],
    ['6.3.1 invalid UTF-8 text', (ws) => ws.sendFrame(TEXT, BAD_UTF8), 1007],
    ['6.3.2 invalid UTF-8 text, octet-wise', (ws) => octetWise(ws, frame(TEXT, BAD_UTF8)), 1007],
    ['7.3.2 close with a 1-byte payload', (ws) => ws.sendFrame(CLOSE, bytes(0x03)), 1002],
    ['7.5.1 close with an invalid UTF-8 reason', (ws) => ws.sendFrame(CLOSE,
      closePayload(1000, BAD_UTF8)), 1007],
    ['7.9.1 close with code 999', (ws) => ws.sendFrame(CLOSE, closePayload(999)), 1002],
    ['7.9.x close with code 1005 (never on the wire)', (ws) => ws.sendFrame(CLOSE,
      closePayload(1005)), 1002],
    ['hibiki: an unmasked client frame', (ws) => ws.sendFrame(TEXT, Buffer.from('x'),
      { masked: false }), 1002],
  ];
  for (const [name, send, code] of failures) {
    test(`${name}: close ${code}`, async () => {
      const ws = await open();
      send(ws);
      await expectClose(ws, code, name);
    });
  }

  test('5.3-5.8 fragments, also octet-wise and with pings between them', async () => {
    const ws = await open();
    ws.sendFrame(TEXT, Buffer.from('fragment1'), { fin: false });
    ws.sendFrame(CONT, Buffer.from('fragment2'));
    assert.equal((await ws.next()).text, 'fragment1fragment2');
    octetWise(ws, Buffer.concat([frame(TEXT, Buffer.from('frag'), { fin: false }),
      frame(PING, Buffer.from('between')), frame(CONT, Buffer.from('ment'))]));
    assert.equal((await ws.nextPong()).toString(), 'between');
    assert.equal((await ws.next()).text, 'fragment');
    ws.close();
    await expectClose(ws, 1000, 'the normal close');
  });

  test('6.1-6.2 empty fragments and valid UTF-8 split anywhere', async () => {
    const ws = await open();
    ws.sendFrame(TEXT, Buffer.alloc(0), { fin: false });
    ws.sendFrame(CONT, Buffer.alloc(0), { fin: false });
    ws.sendFrame(CONT, Buffer.alloc(0));
    assert.equal((await ws.next()).text, '');
    for (let i = 0; i < KOSME.length; ++i) {
      ws.sendFrame(i === 0 ? TEXT : CONT, KOSME.subarray(i, i + 1), { fin: i === KOSME.length - 1 });
    }
    assert.equal((await ws.next()).text, 'κόσμε');
    ws.close();
    await expectClose(ws, 1000, 'the normal close');
  });

  test('7.1.1 / 7.7.x close codes echo; 9.x a 4 MiB message in 64 KiB frames', async () => {
    const big = Buffer.alloc(4 << 20, 0x61);
    const ws = await open();
    ws.send(big, { fragmentSize: 65536 });
    assert.equal(Buffer.compare((await ws.next(20_000)).data, big), 0);
    ws.sendFrame(CLOSE, closePayload(3000, Buffer.from('app code')));
    await expectClose(ws, 3000, 'an application close code');
  });
});
