// Opening-handshake checks over a raw TCP socket.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  RawClient, parseHead, rawExchange, startServer, stopServer, upgradeRequest,
} from './lib/server.mjs';

describe('handshake', { timeout: 30_000 }, () => {
  let chat;
  before(async () => { chat = await startServer('chat'); });
  after(() => stopServer(chat));

  test('upgrade without Sec-WebSocket-Key gets 400, then the socket is closed', async () => {
    const req = upgradeRequest(chat.port, { omit: ['Sec-WebSocket-Key'] });
    const { text, closed } = await rawExchange(chat.port, req);
    assert.match(text, /^HTTP\/1\.1 400 /);
    assert.equal(closed, true, 'server should close the socket after the 400');
  });

  test('Sec-WebSocket-Version: 8 gets 426 with Sec-WebSocket-Version: 13, then close', async () => {
    const req = upgradeRequest(chat.port, { version: '8' });
    const { text, closed } = await rawExchange(chat.port, req);
    const head = parseHead(text);
    assert.match(head.statusLine, /^HTTP\/1\.1 426 /);
    assert.equal(head.headers['sec-websocket-version'], '13');
    assert.equal(closed, true, 'server should close the socket after the 426');
  });

  test('RFC 6455 sample key yields the sample accept value', async () => {
    const c = await RawClient.connect(chat.port, '/', { key: 'dGhlIHNhbXBsZSBub25jZQ==' });
    c.destroy();
    const { head } = c;
    assert.match(head.statusLine, /^HTTP\/1\.1 101 /);
    assert.equal(head.headers['sec-websocket-accept'], 's3pPLMBiTxaQ9kYGzzhZRbK+xOo=');
    assert.match(head.headers.upgrade, /^websocket$/i);
    assert.match(head.headers.connection, /\bupgrade\b/i);
  });

  test('upgrade works at /ws as well as /', async () => {
    for (const path of ['/', '/ws']) {
      const c = await RawClient.connect(chat.port, path);
      const welcome = await c.nextFrame();
      c.destroy();
      assert.match(welcome.payload.toString('utf8'), /^\{"type":"welcome","id":"\d+"\}$/);
    }
  });
});
