// permessage-deflate (RFC 7692) against Node `ws` with compression on, in both of hibiki's modes
// and both client context-takeover modes; raw frames to check RSV1 on the wire, the size
// threshold, and that a zip bomb is refused with 1009 while the server's memory stays bounded.
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { readFileSync } from 'node:fs';
import { after, before, describe, test } from 'node:test';
import zlib from 'node:zlib';
import WebSocket from 'ws';
import {
  HOST, OP, buildFrame, parseFrames, rawSocket, startServer, stopServer, upgradeRequest,
  withTimeout,
} from './lib/server.mjs';

function deflateClient(url, perMessageDeflate) {
  const ws = new WebSocket(url, { perMessageDeflate });
  const inbox = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const m = { data, isBinary };
    const w = waiters.shift();
    if (w) w(m); else inbox.push(m);
  });
  const closed = new Promise((res) => ws.on('close', (code) => res(code)));
  return {
    ws,
    closed,
    opened: withTimeout(new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); }),
      5000, 'open'),
    next: () => withTimeout(inbox.length ? Promise.resolve(inbox.shift())
      : new Promise((res) => waiters.push(res)), 10_000, 'a message'),
  };
}

/** Raw connection that offers permessage-deflate; frames keep their RSV bits. */
async function rawDeflateClient(port, offer) {
  const sock = await rawSocket(port);
  let buf = Buffer.alloc(0);
  let head = null;
  const frames = [];
  const waiters = [];
  const ended = new Promise((res) => sock.on('close', res));
  sock.on('error', () => {});
  sock.on('data', (chunk) => {
    buf = Buffer.concat([buf, chunk]);
    if (head === null) {
      const i = buf.indexOf('\r\n\r\n');
      if (i < 0) return;
      head = buf.subarray(0, i).toString('latin1');
      buf = buf.subarray(i + 4);
    }
    const parsed = parseFrames(buf);
    buf = Buffer.from(parsed.rest);
    for (const f of parsed.frames) {
      const w = waiters.shift();
      if (w) w(f); else frames.push(f);
    }
  });
  sock.write(upgradeRequest(port).replace('\r\n\r\n', `\r\nSec-WebSocket-Extensions: ${offer}\r\n\r\n`));
  await withTimeout(new Promise((res) => {
    const poll = setInterval(() => { if (head !== null) { clearInterval(poll); res(); } }, 5);
  }), 5000, 'handshake');
  return {
    head,
    ended,
    send: (spec) => sock.write(buildFrame(spec)),
    nextFrame: () => withTimeout(frames.length ? Promise.resolve(frames.shift())
      : new Promise((res) => waiters.push(res)), 10_000, 'a frame'),
    destroy: () => sock.destroy(),
  };
}

const compress = (buffer) => {
  const out = zlib.deflateRawSync(buffer, { finishFlush: zlib.constants.Z_SYNC_FLUSH });
  return out.subarray(0, out.length - 4);  // RFC 7692 §7.2.1: drop 00 00 ff ff
};
const inflate = (payload) => zlib.inflateRawSync(
  Buffer.concat([payload, Buffer.from([0, 0, 0xff, 0xff])]),
  { finishFlush: zlib.constants.Z_SYNC_FLUSH });

const rssKb = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);

for (const mode of ['shared', 'dedicated']) {
  describe(`permessage-deflate, --compression ${mode}`, { timeout: 60_000 }, () => {
    let echo;
    before(async () => {
      echo = await startServer('echo', { extraArgs: ['--compression', mode] });
    });
    after(() => stopServer(echo));

    for (const clientNoContext of [false, true]) {
      test(`Node ws (client_no_context_takeover ${clientNoContext}) echoes 0 B to 1 MiB`, async () => {
        const c = deflateClient(`${echo.wsUrl}/`, { threshold: 0, clientNoContextTakeover: clientNoContext });
        await c.opened;
        assert.equal(c.ws.extensions, 'permessage-deflate');
        for (const size of [0, 1, 125, 126, 65536, 1 << 20]) {
          for (const payload of [Buffer.alloc(size, 'a'), randomBytes(size)]) {
            c.ws.send(payload, { binary: true });
            const back = await c.next();
            assert.equal(back.isBinary, true);
            assert.ok(back.data.equals(payload), `binary ${size} B`);
          }
          const text = 'κόσμε '.repeat(Math.ceil(size / 12)).slice(0, Math.floor(size / 2));
          c.ws.send(text);
          assert.equal(String((await c.next()).data), text, `text ${size} B`);
        }
        c.ws.close();
      });
    }

    test('large messages go out with RSV1 set and inflate to the original; small ones plain', async () => {
      const c = await rawDeflateClient(echo.port, 'permessage-deflate; client_max_window_bits');
      const agreed = /\r\nSec-WebSocket-Extensions: (permessage-deflate[^\r]*)/i.exec(c.head)?.[1];
      assert.ok(agreed, c.head);
      // Shared mode keeps no compression context, and says so; dedicated keeps one.
      assert.equal(/server_no_context_takeover/.test(agreed), mode === 'shared', agreed);
      const big = Buffer.from('hello hibiki '.repeat(100));
      c.send({ opcode: OP.TEXT, payload: compress(big), rsv: 4 });
      const frame = await c.nextFrame();
      assert.equal(frame.rsv, 4, 'RSV1 set on a compressed message');
      assert.ok(frame.payload.length < big.length / 4, 'the echo was compressed');
      assert.ok(inflate(frame.payload).equals(big));
      c.send({ opcode: OP.TEXT, payload: 'tiny' });  // uncompressed from the client too
      const small = await c.nextFrame();
      assert.equal(small.rsv, 0, 'under the threshold: sent plain');
      assert.equal(small.payload.toString(), 'tiny');
      c.destroy();
    });
  });
}

describe('permessage-deflate limits and broadcast', { timeout: 60_000 }, () => {
  let echo;
  let chat;
  before(async () => {
    [echo, chat] = await Promise.all([
      startServer('echo', { maxMessage: 1 << 20 }),
      startServer('chat'),
    ]);
  });
  after(() => Promise.all([stopServer(echo), stopServer(chat)]));

  test('a zip bomb is closed with 1009 and server memory stays bounded', async () => {
    const bomb = compress(Buffer.alloc(512 << 20));  // 512 MiB of zeros in about 500 KiB
    const before = rssKb(echo.process.pid);
    const c = await rawDeflateClient(echo.port, 'permessage-deflate');
    c.send({ opcode: OP.BINARY, payload: bomb, rsv: 4 });
    let frame;
    do frame = await c.nextFrame(); while (frame.opcode !== OP.CLOSE);
    assert.equal(frame.payload.readUInt16BE(0), 1009);
    const grown = rssKb(echo.process.pid) - before;
    // The cap is 1 MiB of inflated output; allow the read buffer, zlib and allocator slack.
    assert.ok(grown < 8 * 1024, `server RSS grew by ${grown} KiB`);
    c.destroy();
  });

  test('corrupt compressed data closes with 1007', async () => {
    const c = await rawDeflateClient(echo.port, 'permessage-deflate');
    c.send({ opcode: OP.TEXT, payload: Buffer.from([0xff, 0xff, 0xff, 0xff, 0x00]), rsv: 4 });
    let frame;
    do frame = await c.nextFrame(); while (frame.opcode !== OP.CLOSE);
    assert.equal(frame.payload.readUInt16BE(0), 1007);
    c.destroy();
  });

  test('inflated text that is not UTF-8 closes with 1007', async () => {
    const c = await rawDeflateClient(echo.port, 'permessage-deflate');
    c.send({ opcode: OP.TEXT, payload: compress(Buffer.from([0x61, 0xc0, 0xaf, 0x62])), rsv: 4 });
    let frame;
    do frame = await c.nextFrame(); while (frame.opcode !== OP.CLOSE);
    assert.equal(frame.payload.readUInt16BE(0), 1007);
    c.destroy();
  });

  test('a chat broadcast reaches compressing and plain clients alike, byte-exact', async () => {
    const text = 'a long enough message to be worth compressing, '.repeat(4);
    const zipped = deflateClient(`${chat.wsUrl}/`, { threshold: 0 });
    const zippedToo = deflateClient(`${chat.wsUrl}/ws`, { threshold: 0, serverNoContextTakeover: true });
    const plain = deflateClient(`${chat.wsUrl}/`, false);
    await Promise.all([zipped.opened, zippedToo.opened, plain.opened]);
    assert.match(zipped.ws.extensions, /permessage-deflate/);
    assert.equal(plain.ws.extensions, '');
    plain.ws.send(JSON.stringify({ action: 'message', message: text }));
    const got = await Promise.all([zipped.next(), zippedToo.next(), plain.next()]);
    const expected = String(got[2].data);
    assert.match(expected, new RegExp(`^\\{"type":"message","body":"Client \\d+: ${text}"\\}$`));
    for (const m of got) assert.equal(String(m.data), expected);
    for (const c of [zipped, zippedToo, plain]) c.ws.close();
  });
});
