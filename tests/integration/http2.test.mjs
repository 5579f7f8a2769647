// HTTP/2 over TLS (ALPN h2) and WebSockets over it (RFC 8441), driven by Node's own http2
// client: echo, chat between an h2 and an HTTP/1.1 client, 100 streams on one connection, a
// stream that stops reading, resets, graceful stop (1001 then GOAWAY), the page and /metrics
// byte for byte as over HTTP/1.1, refused CONNECTs, ALPN and --http2 off, and h2load.
import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import https from 'node:https';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { connectH2, h2Get, openWebSocket } from './lib/h2ws.mjs';
import { HOST, eventually, withTimeout } from './lib/server.mjs';
import { makeCertificate, startTlsServer, stopServer } from './lib/tls_server.mjs';

function httpsGet(port, ca, path) {
  return withTimeout(new Promise((res, rej) => {
    https.get({ host: HOST, port, path, ca, servername: 'localhost', ALPNProtocols: ['http/1.1'] },
      (response) => {
        const alpn = response.socket.alpnProtocol;
        const chunks = [];
        response.on('data', (c) => chunks.push(c));
        response.on('end', () => res({ status: response.statusCode, body: Buffer.concat(chunks),
          alpn }));
      }).on('error', rej);
  }), 5000, `https GET ${path}`);
}

function alpnOf(port, ca, offered) {
  return withTimeout(new Promise((res, rej) => {
    const socket = tls.connect({ host: HOST, port, ca, servername: 'localhost',
      ALPNProtocols: offered }, () => {
      res(socket.alpnProtocol);
      socket.destroy();
    });
    socket.once('error', rej);
  }), 5000, 'a TLS handshake');
}

function metric(text, name) {
  const m = new RegExp(`^hibiki_${name} (\\d+)$`, 'm').exec(text);
  return m ? Number(m[1]) : NaN;
}

// Chat messages of type "message" only (welcome, presence and history come too).
async function nextChat(next) {
  for (;;) {
    const m = JSON.parse((await next()).toString());
    if (m.type === 'message') return m;
  }
}

describe('HTTP/2', { timeout: 120_000 }, () => {
  let dir;
  let cert;
  before(() => {
    dir = mkdtempSync(join(tmpdir(), 'hibiki-h2-'));
    cert = makeCertificate(dir);
  });
  after(() => rmSync(dir, { recursive: true, force: true }));

  describe('echo', () => {
    let server;
    before(async () => {
      server = await startTlsServer('echo', cert, ['--log-level', 'debug', '--max-connections',
        '400', '--max-buffered', '262144', '--close-timeout', '1']);
    });
    after(() => stopServer(server));

    test('ALPN chooses h2 when offered, http/1.1 otherwise, on the same port', async () => {
      assert.equal(await alpnOf(server.port, cert.pem, ['h2', 'http/1.1']), 'h2');
      assert.equal(await alpnOf(server.port, cert.pem, ['http/1.1', 'h2']), 'h2');
      assert.equal(await alpnOf(server.port, cert.pem, ['http/1.1']), 'http/1.1');
      const ws = new WebSocket(`wss://localhost:${server.port}/`, { ca: cert.pem });
      await withTimeout(new Promise((res, rej) => { ws.once('open', res); ws.once('error', rej); }),
        5000, 'wss open');
      const got = new Promise((res) => ws.once('message', (d) => res(d.toString())));
      ws.send('over http/1.1');
      assert.equal(await withTimeout(got, 5000, 'the echo'), 'over http/1.1');
      ws.close();
    });

    test('settings: extended CONNECT and 128 concurrent streams', async () => {
      const session = await connectH2(server.port, cert.pem);
      assert.equal(session.remoteSettings.enableConnectProtocol, true);
      assert.equal(session.remoteSettings.maxConcurrentStreams, 128);
      session.close();
    });

    test('echo: text, binary and a large fragmented message; close 1000 ends the stream',
      async () => {
        const session = await connectH2(server.port, cert.pem);
        const ws = await openWebSocket(session, '/');
        assert.equal(ws.status, 200);
        assert.equal(ws.headers['sec-websocket-accept'], undefined);  // RFC 8441 §5
        ws.send('héllo');
        assert.equal((await ws.next()).text, 'héllo');
        ws.send(Buffer.from([0, 1, 2, 255]), { binary: true });
        const bin = await ws.next();
        assert.equal(bin.isBinary, true);
        assert.deepEqual([...bin.data], [0, 1, 2, 255]);
        const big = Buffer.alloc(300_000);
        for (let i = 0; i < big.length; ++i) big[i] = i % 251;
        ws.send(big, { binary: true, fragmentSize: 10_000 });
        const echoed = await ws.next();
        assert.equal(Buffer.compare(echoed.data, big), 0);
        ws.close(1000, 'done');
        const closed = await withTimeout(ws.closed, 5000, 'the close');
        assert.equal(closed.code, 1000);
        assert.equal(closed.reason, 'done');
        if (!ws.stream.closed) {
          await withTimeout(new Promise((res) => ws.stream.once('close', res)), 5000,
            'the stream to end');
        }
        assert.equal(ws.stream.rstCode, 0);  // ended by END_STREAM both ways, not a reset
        session.close();
      });

    test('100 WebSocket streams on one connection all echo', async () => {
      const session = await connectH2(server.port, cert.pem);
      const sockets = await Promise.all(Array.from({ length: 100 }, () =>
        openWebSocket(session, '/')));
      assert.ok(sockets.every((ws) => ws.status === 200));
      sockets.forEach((ws, i) => ws.send(`stream ${i}`));
      const replies = await Promise.all(sockets.map((ws) => ws.next()));
      replies.forEach((m, i) => assert.equal(m.text, `stream ${i}`));
      sockets.forEach((ws) => ws.close());
      await Promise.all(sockets.map((ws) => withTimeout(ws.closed, 5000, 'closes')));
      session.close();
    });

    test('a stream that stops reading is closed 1008 past --max-buffered; others flow',
      async () => {
        const session = await connectH2(server.port, cert.pem);
        // Room on the connection for the stuck stream's window: only its own window closes.
        session.setLocalWindowSize(32 * 1024 * 1024);
        const slow = await openWebSocket(session, '/');
        const fast = await openWebSocket(session, '/');
        slow.stream.pause();
        const before = metric((await h2Get(session, '/metrics')).body.toString(),
          'closed_buffer_full_total');
        const chunk = Buffer.alloc(16 * 1024, 1);
        for (let i = 0; i < 64; ++i) slow.send(chunk, { binary: true });  // 1 MiB of echoes
        for (let i = 0; i < 20; ++i) {
          fast.send(`ping ${i}`);
          assert.equal((await fast.next()).text, `ping ${i}`);
        }
        await eventually(async () => metric((await h2Get(session, '/metrics')).body.toString(),
          'closed_buffer_full_total') > before, 5000, 'the buffer-full close');
        fast.send('still here');
        assert.equal((await fast.next()).text, 'still here');
        slow.stream.resume();
        // Its close frame (1008) waits behind what it did not read; past --close-timeout the
        // stream is reset instead. Either way it is over, and only it.
        const closed = await withTimeout(slow.closed, 5000, 'the slow stream to close');
        assert.ok(closed.code === 1008 || closed.how === 'reset', JSON.stringify(closed));
        session.close();
      });

    test('RST_STREAM from the client: on_close sees 1006, the connection lives on', async () => {
      const session = await connectH2(server.port, cert.pem);
      const ws = await openWebSocket(session, '/');
      ws.send('before');
      assert.equal((await ws.next()).text, 'before');
      const logged = server.log().length;
      ws.stream.close(0x8);  // CANCEL
      await eventually(() => /closed 1006/.test(server.log().slice(logged)), 5000,
        'the server to log the stream closed with 1006');
      const other = await openWebSocket(session, '/');
      other.send('after');
      assert.equal((await other.next()).text, 'after');
      other.close();
      await other.closed;
      session.close();
    });

    test('closing the TCP connection closes all its streams with 1006', async () => {
      // Our own TLS socket under the session, to cut it without any HTTP/2 goodbye.
      let socket;
      const session = await connectH2(server.port, cert.pem, {}, {
        createConnection: () => {
          socket = tls.connect({ host: HOST, port: server.port, ca: cert.pem,
            servername: 'localhost', ALPNProtocols: ['h2'] });
          return socket;
        },
      });
      const sockets = await Promise.all([1, 2, 3].map(() => openWebSocket(session, '/')));
      for (const ws of sockets) {
        ws.send('x');
        await ws.next();
      }
      const logged = server.log().length;
      socket.destroy();
      await eventually(() => (server.log().slice(logged).match(/closed 1006/g) ?? []).length >= 3,
        5000, 'three streams closed with 1006');
    });

    test('raw bytes: DATA on stream 0 gets GOAWAY(PROTOCOL_ERROR), then the close', async () => {
      const socket = tls.connect({ host: HOST, port: server.port, ca: cert.pem,
        servername: 'localhost', ALPNProtocols: ['h2'] });
      await withTimeout(new Promise((res, rej) => { socket.once('secureConnect', res);
        socket.once('error', rej); }), 5000, 'TLS');
      assert.equal(socket.alpnProtocol, 'h2');
      const chunks = [];
      socket.on('data', (c) => chunks.push(c));
      const ended = new Promise((res) => socket.once('close', res));
      socket.on('error', () => {});
      const preface = Buffer.from('PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n');
      const settings = Buffer.from([0, 0, 0, 4, 0, 0, 0, 0, 0]);
      const badData = Buffer.from([0, 0, 1, 0, 0, 0, 0, 0, 0, 0x78]);  // DATA, stream 0
      socket.write(Buffer.concat([preface, settings, badData]));
      await withTimeout(ended, 5000, 'the server to close');
      // Walk the frames the server sent: its SETTINGS first, a GOAWAY with code 1 last.
      const bytes = Buffer.concat(chunks);
      const frames = [];
      for (let at = 0; at + 9 <= bytes.length;) {
        const length = bytes.readUIntBE(at, 3);
        frames.push({ type: bytes[at + 3], payload: bytes.subarray(at + 9, at + 9 + length) });
        at += 9 + length;
      }
      assert.equal(frames[0].type, 4, 'SETTINGS first');
      const goaway = frames.find((f) => f.type === 7);
      assert.ok(goaway, `a GOAWAY among ${frames.map((f) => f.type)}`);
      assert.equal(goaway.payload.readUInt32BE(4), 1, 'PROTOCOL_ERROR');
    });

    test('--backpressure drop: a stream that stops reading loses messages, stays open',
      async () => {
        const dropping = await startTlsServer('echo', cert, ['--max-buffered', '65536',
          '--backpressure', 'drop']);
        try {
          const session = await connectH2(dropping.port, cert.pem);
          session.setLocalWindowSize(32 * 1024 * 1024);
          const slow = await openWebSocket(session, '/');
          const fast = await openWebSocket(session, '/');
          slow.stream.pause();
          const chunk = Buffer.alloc(8 * 1024, 2);
          for (let i = 0; i < 64; ++i) slow.send(chunk, { binary: true });  // 512 KiB of echoes
          fast.send('flowing');
          assert.equal((await fast.next()).text, 'flowing');
          await eventually(async () => metric((await h2Get(session, '/metrics')).body.toString(),
            'messages_dropped_total') > 0, 5000, 'dropped messages');
          slow.stream.resume();
          let received = 0;
          for (;;) {
            try { await slow.next(1000); received += 1; } catch { break; }
          }
          assert.ok(received > 0 && received < 64, `got ${received} of 64`);
          slow.send('alive');
          assert.equal((await slow.next()).text, 'alive');
          session.close();
        } finally {
          await stopServer(dropping);
        }
      });

    test('--max-connections counts streams: past it a CONNECT gets 503', async () => {
      const limited = await startTlsServer('echo', cert, ['--max-connections', '3']);
      try {
        const session = await connectH2(limited.port, cert.pem);  // 1
        const a = await openWebSocket(session, '/');  // 2
        const b = await openWebSocket(session, '/');  // 3
        assert.equal(a.status, 200);
        assert.equal(b.status, 200);
        const c = await openWebSocket(session, '/');
        assert.equal(c.status, 503);
        session.close();
      } finally {
        await stopServer(limited);
      }
    });
  });

  describe('chat', () => {
    let server;
    before(async () => {
      server = await startTlsServer('chat', cert, ['--log-level', 'debug']);
    });
    after(() => stopServer(server));

    test('the page, a static file and /metrics: 200 and the same bytes as over HTTP/1.1',
      async () => {
        const session = await connectH2(server.port, cert.pem);
        assert.equal((await h2Get(session, '/healthz')).status, 200);
        for (const path of ['/', '/app.js', '/style.css']) {
          const h2 = await h2Get(session, path);
          const h1 = await httpsGet(server.port, cert.pem, path);
          assert.equal(h2.status, 200, path);
          assert.equal(h1.alpn, 'http/1.1');
          assert.equal(Buffer.compare(h2.body, h1.body), 0, `${path}: same bytes`);
          assert.equal(Number(h2.headers['content-length']), h1.body.length);
        }
        const head = await h2Get(session, '/', 'HEAD');
        assert.equal(head.status, 200);
        assert.equal(head.body.length, 0);
        const metrics = await h2Get(session, '/metrics');
        assert.equal(metrics.status, 200);
        assert.ok(metric(metrics.body.toString(), 'http2_connections_total') >= 1);
        assert.equal((await h2Get(session, '/no-such-file')).status, 404);
        session.close();
      });

    test('chat between an h2 WebSocket and an HTTP/1.1 one', async () => {
      const session = await connectH2(server.port, cert.pem);
      const h2ws = await openWebSocket(session, '/');
      assert.equal(h2ws.status, 200);
      const h1 = new WebSocket(`wss://localhost:${server.port}/`, { ca: cert.pem });
      const h1inbox = [];
      const h1waiters = [];
      h1.on('message', (d) => {
        const w = h1waiters.shift();
        if (w) w(d); else h1inbox.push(d);
      });
      const h1next = () => withTimeout(h1inbox.length ? Promise.resolve(h1inbox.shift())
        : new Promise((res) => h1waiters.push(res)), 5000, 'a chat message over HTTP/1.1');
      await withTimeout(new Promise((res, rej) => { h1.once('open', res); h1.once('error', rej); }),
        5000, 'wss open');
      const h2next = async () => (await h2ws.next()).data;
      h2ws.send(JSON.stringify({ action: 'message', message: 'from h2' }));
      const seenByH1 = await nextChat(h1next);
      const seenByH2 = await nextChat(h2next);
      assert.match(seenByH1.body, /^Client \d+: from h2$/);
      assert.equal(seenByH2.body, seenByH1.body);
      h1.send(JSON.stringify({ action: 'message', message: 'from h1' }));
      assert.match((await nextChat(h2next)).body, /^Client \d+: from h1$/);
      const metrics = (await h2Get(session, '/metrics')).body.toString();
      assert.ok(metric(metrics, 'http2_websocket_streams_total') >= 1);
      h1.close();
      h2ws.close();
      await h2ws.closed;
      session.close();
    });

    test('bad extended CONNECTs get a status', async () => {
      const session = await connectH2(server.port, cert.pem);
      const cases = [
        [{ 'sec-websocket-version': undefined }, {}, 400],
        [{ 'sec-websocket-version': '8' }, {}, 426],
        [{}, { ':protocol': 'not-websocket' }, 501],
      ];
      for (const [headers, pseudo, status] of cases) {
        const ws = await openWebSocket(session, '/', headers, { pseudo });
        assert.equal(ws.status, status, JSON.stringify({ headers, pseudo }));
        if (status === 426) assert.equal(ws.headers['sec-websocket-version'], '13');
      }
      assert.equal((await openWebSocket(session, '/no-such-endpoint')).status, 404);
      // The connection survived every refusal.
      const ok = await openWebSocket(session, '/');
      assert.equal(ok.status, 200);
      ok.close();
      await ok.closed;
      session.close();
    });

    test('h2load: 2000 requests for the page over h2 all succeed', async () => {
      const out = await withTimeout(new Promise((res, rej) => {
        execFile('h2load', ['-n', '2000', '-c', '10', '-m', '10',
          `https://127.0.0.1:${server.port}/`], { timeout: 60_000 }, (error, stdout) => {
          if (error) rej(new Error(`h2load: ${error.message}\n${stdout}`)); else res(stdout);
        });
      }), 70_000, 'h2load');
      assert.match(out, /Application protocol: h2/);
      assert.match(out, /requests: 2000 total, 2000 started, 2000 done, 2000 succeeded, 0 failed/);
      assert.match(out, /status codes: 2000 2xx/);
    });
  });

  test('graceful stop: every stream gets 1001, then GOAWAY, then the exit', async () => {
    const server = await startTlsServer('echo', cert);
    try {
      const session = await connectH2(server.port, cert.pem);
      const sockets = await Promise.all([1, 2].map(() => openWebSocket(session, '/')));
      const events = [];
      sockets.forEach((ws, i) => ws.closed.then((c) => events.push(`close ${i} ${c.code}`)));
      const goaway = new Promise((res) => session.once('goaway', (code) => {
        events.push(`goaway ${code}`);
        res();
      }));
      server.child.kill('SIGTERM');
      await withTimeout(goaway, 5000, 'GOAWAY');
      const exit = await withTimeout(server.exited, 10_000, 'exit');
      assert.equal(exit.code, 0);
      assert.deepEqual(events.slice(0, 2).sort(), ['close 0 1001', 'close 1 1001']);
      assert.equal(events[2], 'goaway 0');
      session.destroy();
    } finally {
      await stopServer(server);
    }
  });

  test('a connection without streams gets GOAWAY after --handshake-timeout', async () => {
    const server = await startTlsServer('echo', cert, ['--handshake-timeout', '1']);
    try {
      const session = await connectH2(server.port, cert.pem);
      const started = Date.now();
      const code = await withTimeout(new Promise((res) => session.once('goaway', res)), 5000,
        'GOAWAY on an idle connection');
      assert.equal(code, 0);
      assert.ok(Date.now() - started >= 500, 'not before the timeout');
      await withTimeout(new Promise((res) => session.once('close', res)), 5000, 'the close');
    } finally {
      await stopServer(server);
    }
  });

  test('--http2 off: ALPN offers no h2', async () => {
    const server = await startTlsServer('echo', cert, ['--http2', 'off']);
    try {
      assert.equal(await alpnOf(server.port, cert.pem, ['h2', 'http/1.1']), 'http/1.1');
      assert.equal((await httpsGet(server.port, cert.pem, '/metrics')).status, 200);
    } finally {
      await stopServer(server);
    }
  });
});
