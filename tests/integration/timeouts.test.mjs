// Timers: a silent client is pinged, then closed with 1001; an incomplete HTTP request is
// answered 408 and dropped at the handshake timeout; the peer of a server-initiated close that
// never answers is dropped at the close timeout.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  OP, RawClient, rawSocket, startServer, stopServer, withTimeout,
} from './lib/server.mjs';

describe('timeouts', { timeout: 30_000 }, () => {
  let echo;
  const open = [];

  before(async () => {
    echo = await startServer('echo', {
      extraArgs: ['--idle-timeout', '1', '--handshake-timeout', '1', '--close-timeout', '1'],
    });
  });
  after(async () => {
    for (const c of open) c.destroy();
    await stopServer(echo);
  });

  test('a silent connection gets a ping after the idle timeout, then close 1001', async () => {
    const c = await RawClient.connect(echo.port);
    open.push(c);
    const started = Date.now();
    const ping = await c.nextFrame(4000);
    assert.equal(ping.opcode, OP.PING);
    assert.ok(Date.now() - started >= 700, 'ping came before the idle timeout');
    // No pong: the next idle period ends the connection.
    const close = await c.nextClose(4000);
    assert.equal(close.code, 1001);
    c.send({ opcode: OP.CLOSE, payload: Buffer.from([0x03, 0xe9]) });
    await withTimeout(c.ended, 4000, 'server to close TCP');
  });

  test('a peer that never answers our close frame is dropped at the close timeout', async () => {
    const c = await RawClient.connect(echo.port);
    open.push(c);
    const close = await c.nextClose(5000);  // idle ping, then close 1001
    assert.equal(close.code, 1001);
    const closedAt = Date.now();
    await withTimeout(c.ended, 4000, 'server to drop the silent peer');
    assert.ok(Date.now() - closedAt >= 500, 'dropped before the close timeout');
  });

  test('a connection that answers pings stays open past several idle periods', async () => {
    const c = await RawClient.connect(echo.port);
    open.push(c);
    for (let i = 0; i < 3; ++i) {
      const ping = await c.nextFrame(4000);
      assert.equal(ping.opcode, OP.PING);
      c.send({ opcode: OP.PONG, payload: ping.payload });
    }
    c.send({ opcode: OP.TEXT, payload: 'still here' });
    const echoed = await c.nextFrame(4000);
    assert.equal(echoed.opcode, OP.TEXT);
    assert.equal(echoed.payload.toString(), 'still here');
  });

  test('an HTTP request that never completes gets 408 and the socket is closed', async () => {
    const sock = await rawSocket(echo.port);
    const chunks = [];
    const closed = new Promise((res) => sock.on('close', res));
    sock.on('data', (d) => chunks.push(d));
    sock.on('error', () => {});
    sock.write('GET / HTTP/1.1\r\nHost: 127.0.0.1\r\n');  // no blank line, ever
    await withTimeout(closed, 4000, 'server to drop the slow request');
    assert.match(Buffer.concat(chunks).toString('latin1'), /^HTTP\/1\.1 408 /);
  });
});
