// Opening-handshake checks over a raw TCP socket.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  OP, RawClient, parseHead, rawExchange, startServer, stopServer, upgradeRequest,
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

  test('a request head over 8 KiB gets 431, then close', async () => {
    const req = upgradeRequest(chat.port).replace('\r\n\r\n', `\r\nX-Filler: ${'a'.repeat(9000)}\r\n\r\n`);
    const { text, closed } = await rawExchange(chat.port, req);
    assert.match(text, /^HTTP\/1\.1 431 /);
    assert.equal(closed, true);
  });

  test('more than 64 headers get 431', async () => {
    const many = Array.from({ length: 70 }, (_, i) => `X-H${i}: v\r\n`).join('');
    const req = upgradeRequest(chat.port).replace('\r\n\r\n', `\r\n${many}\r\n`);
    const { text } = await rawExchange(chat.port, req);
    assert.match(text, /^HTTP\/1\.1 431 /);
  });

  test('a POST upgrade gets 405 with Allow: GET', async () => {
    const req = upgradeRequest(chat.port).replace(/^GET /, 'POST ');
    const { text } = await rawExchange(chat.port, req);
    const head = parseHead(text);
    assert.match(head.statusLine, /^HTTP\/1\.1 405 /);
    assert.equal(head.headers.allow, 'GET');
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
      c.send({ opcode: OP.TEXT, payload: '{"action":"hello"}' });
      const welcome = await c.nextFrame();
      c.destroy();
      assert.match(welcome.payload.toString('utf8'), /^\{"type":"welcome","id":"\d+",/);
    }
  });
});

describe('origin allow-list', { timeout: 30_000 }, () => {
  let chat;
  before(async () => {
    chat = await startServer('chat', { extraArgs: ['--allowed-origin', 'http://good.example'] });
  });
  after(() => stopServer(chat));

  const withOrigin = (origin) => upgradeRequest(chat.port)
    .replace('\r\n\r\n', `\r\nOrigin: ${origin}\r\n\r\n`);

  test('an origin not on the list gets 403, then close', async () => {
    const { text, closed } = await rawExchange(chat.port, withOrigin('http://evil.example'));
    assert.match(text, /^HTTP\/1\.1 403 /);
    assert.equal(closed, true);
  });

  test('no Origin at all gets 403 when a list is set', async () => {
    const { text } = await rawExchange(chat.port, upgradeRequest(chat.port));
    assert.match(text, /^HTTP\/1\.1 403 /);
  });

  test('a listed origin (any case) is upgraded', async () => {
    const { text } = await rawExchange(chat.port, withOrigin('HTTP://Good.Example'), 500);
    assert.match(text, /^HTTP\/1\.1 101 /);
  });
});
