// TLS: https:// and wss:// on one port with a throwaway certificate made at test time, TLS 1.2+
// only, ALPN http/1.1 (h2: http2.test.mjs), a certificate reload on SIGHUP that leaves open
// connections alone, and clients that never finish (or never start) the TLS handshake.
import assert from 'node:assert/strict';
import { X509Certificate } from 'node:crypto';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { HOST, withTimeout } from './lib/server.mjs';
import { makeCertificate, startTlsServer, stopServer } from './lib/tls_server.mjs';

function connectWs(port, ca, path = '/') {
  const ws = new WebSocket(`wss://localhost:${port}${path}`, { ca, perMessageDeflate: false });
  const inbox = [];
  const waiters = [];
  ws.on('message', (data, isBinary) => {
    const m = { data, isBinary };
    const w = waiters.shift();
    if (w) w(m); else inbox.push(m);
  });
  const next = () => withTimeout(inbox.length ? Promise.resolve(inbox.shift())
    : new Promise((res) => waiters.push(res)), 10_000, 'a message over wss');
  const opened = withTimeout(new Promise((res, rej) => {
    ws.once('open', res);
    ws.once('error', rej);
  }), 5000, 'wss open');
  return { ws, next, opened };
}

function peerFingerprint(port, ca) {
  return withTimeout(new Promise((res, rej) => {
    const socket = tls.connect({ host: HOST, port, ca, servername: 'localhost' }, () => {
      const fingerprint = socket.getPeerX509Certificate().fingerprint256;
      socket.destroy();
      res(fingerprint);
    });
    socket.once('error', rej);
  }), 5000, 'TLS connect');
}

describe('TLS', { timeout: 60_000 }, () => {
  let dir;
  let first;
  let chat;
  let echo;

  before(async () => {
    dir = mkdtempSync(join(tmpdir(), 'hibiki-tls-'));
    first = makeCertificate(dir, 'first');
    // The files the server is pointed at; the reload test overwrites them.
    writeFileSync(join(dir, 'cert.pem'), first.pem);
    writeFileSync(join(dir, 'key.pem'), readFileSync(first.key));
    const served = { cert: join(dir, 'cert.pem'), key: join(dir, 'key.pem') };
    chat = await startTlsServer('chat', served, ['--tls-handshake-timeout', '1']);
    echo = await startTlsServer('echo', first);
  });
  after(async () => {
    const exits = await Promise.all([stopServer(chat), stopServer(echo)])
      .finally(() => rmSync(dir, { recursive: true, force: true }));
    for (const exit of exits) assert.deepEqual(exit, { code: 0, signal: null });
  });

  test('serves the page over https with HTTP/1.1', async () => {
    const body = await withTimeout(new Promise((res, rej) => {
      https.get({ host: HOST, port: chat.port, path: '/', ca: first.pem, servername: 'localhost' },
        (response) => {
          assert.equal(response.statusCode, 200);
          assert.match(response.headers['content-type'], /^text\/html/);
          let text = '';
          response.setEncoding('utf8').on('data', (d) => { text += d; }).on('end', () => res(text));
        }).once('error', rej);
    }), 5000, 'https GET /');
    assert.match(body, /<html/i);
  });

  test('chats over wss with the seed JSON', async () => {
    const a = connectWs(chat.port, first.pem);
    const b = connectWs(chat.port, first.pem, '/ws');
    await Promise.all([a.opened, b.opened]);
    a.ws.send('{"action":"message","message":"secret"}');
    const [fromA, fromB] = await Promise.all([a.next(), b.next()]);
    assert.match(String(fromA.data), /^\{"type":"message","body":"Client \d+: secret"\}$/);
    assert.equal(String(fromB.data), String(fromA.data));
    a.ws.close();
    b.ws.close();
  });

  test('echoes text and binary messages of 0 B to 1 MiB over wss', async () => {
    const c = connectWs(echo.port, first.pem);
    await c.opened;
    for (const size of [0, 1, 125, 126, 16384, 65536, 1 << 20]) {
      const payload = Buffer.alloc(size, size % 251);
      c.ws.send(payload, { binary: true });
      const back = await c.next();
      assert.equal(back.isBinary, true);
      assert.ok(Buffer.compare(back.data, payload) === 0, `binary ${size} B`);
      const text = 'é'.repeat(Math.floor(size / 2));
      c.ws.send(text);
      assert.equal(String((await c.next()).data), text, `text ${size} B`);
    }
    c.ws.close();
  });

  test('400 wss clients connecting at once are all upgraded and echoed', async () => {
    // Many handshakes in flight keep the one loop busy, so a connection's events wait while its
    // client's Finished and upgrade request arrive; the server reads them ahead with the
    // handshake and must answer the request without another readable edge.
    // One bound for them all (a slow sanitizer build on a loaded machine takes seconds).
    const clients = Array.from({ length: 400 }, () => new WebSocket(`wss://localhost:${echo.port}/`,
      { ca: first.pem, perMessageDeflate: false }));
    await withTimeout(Promise.all(clients.map((ws) => new Promise((res, rej) => {
      ws.once('open', res);
      ws.once('error', rej);
    }))), 30_000, '400 wss opens');
    const echoes = await withTimeout(Promise.all(clients.map((ws, i) => new Promise((res) => {
      ws.once('message', (data) => res(String(data)));
      ws.send(`hello ${i}`);
    }))), 30_000, '400 echoes');
    assert.deepEqual(echoes, clients.map((_, i) => `hello ${i}`));
    for (const ws of clients) ws.close();
  });

  test('negotiates ALPN http/1.1 and refuses TLS 1.1', async () => {
    const alpn = await withTimeout(new Promise((res, rej) => {
      const s = tls.connect({ host: HOST, port: echo.port, ca: first.pem, servername: 'localhost',
        ALPNProtocols: ['http/1.1'] }, () => { res(s.alpnProtocol); s.destroy(); });
      s.once('error', rej);
    }), 5000, 'ALPN');
    assert.equal(alpn, 'http/1.1');
    await assert.rejects(withTimeout(new Promise((res, rej) => {
      const s = tls.connect({ host: HOST, port: echo.port, ca: first.pem, servername: 'localhost',
        minVersion: 'TLSv1', maxVersion: 'TLSv1.1' }, () => { res(); s.destroy(); });
      s.once('error', rej);
    }), 5000, 'TLS 1.1 attempt'));
  });

  test('SIGHUP loads a new certificate for new connections; open ones keep working', async () => {
    const before = await peerFingerprint(chat.port, first.pem);
    assert.equal(before, new X509Certificate(first.pem).fingerprint256);
    const open = connectWs(chat.port, first.pem);
    await open.opened;

    const second = makeCertificate(dir, 'second');
    writeFileSync(join(dir, 'cert.pem'), second.pem);
    writeFileSync(join(dir, 'key.pem'), readFileSync(second.key));
    chat.child.kill('SIGHUP');
    const expected = new X509Certificate(second.pem).fingerprint256;
    let after = '';
    for (let i = 0; i < 50 && after !== expected; ++i) {
      await new Promise((r) => setTimeout(r, 100));
      after = await peerFingerprint(chat.port, second.pem).catch(() => '');
    }
    assert.equal(after, expected);
    assert.match(chat.log(), /TLS certificate reloaded/);

    open.ws.send('{"action":"message","message":"still here"}');
    assert.match(String((await open.next()).data), /still here/);
    open.ws.close();
  });

  test('a plain-TCP client and a silent one are dropped; the server keeps serving', async () => {
    const plain = await withTimeout(new Promise((res) => {
      const s = net.connect({ host: HOST, port: chat.port }, () => {
        s.write('GET / HTTP/1.1\r\nHost: x\r\n\r\n');
      });
      s.on('error', () => {});
      s.on('close', () => res(true));
    }), 5000, 'server to drop a plain-text client');
    assert.equal(plain, true);
    const silentStart = Date.now();
    const silent = await withTimeout(new Promise((res) => {
      const s = net.connect({ host: HOST, port: chat.port });
      s.on('error', () => {});
      s.on('close', () => res(Date.now() - silentStart));
    }), 5000, 'server to drop a client that never starts TLS');
    assert.ok(silent >= 700, `dropped after ${silent} ms, before the 1 s TLS handshake timeout`);
    const again = connectWs(chat.port, (await import('node:fs')).readFileSync(join(dir, 'cert.pem')));
    await again.opened;
    again.ws.close();
  });
});
