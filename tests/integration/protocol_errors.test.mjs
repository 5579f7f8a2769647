// Protocol violations end the connection with the right close code.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  Client, OP, RawClient, joinChat, startServer, stopServer, withTimeout,
} from './lib/server.mjs';

const MAX = 1024;

describe('protocol errors', { timeout: 30_000 }, () => {
  let echo;
  let chat;
  const open = [];
  const track = (c) => { open.push(c); return c; };

  before(async () => {
    [echo, chat] = await Promise.all([
      startServer('echo', { maxMessage: MAX }),
      startServer('chat', { maxMessage: MAX }),
    ]);
  });
  after(async () => {
    await Promise.all(open.map((c) => (c.dispose ? c.dispose() : c.destroy())));
    await Promise.all([stopServer(echo), stopServer(chat)]);
  });

  test('invalid UTF-8 in a text message closes with 1007 (echo)', async () => {
    const c = track(await Client.connect(echo.wsUrl));
    await c.send(Buffer.from([0xce, 0xba, 0xff]), { binary: false });
    const { code } = await c.waitClosed();
    assert.equal(code, 1007);
  });

  test('invalid UTF-8 in a text message closes with 1007 (chat)', async () => {
    const { client } = await joinChat(chat);
    track(client);
    await client.send(Buffer.from([0x7b, 0xc0, 0xaf, 0x7d]), { binary: false }); // overlong "/"
    const { code } = await client.waitClosed();
    assert.equal(code, 1007);
  });

  test('raw: a truncated UTF-8 sequence at the end of a fragmented message gets close 1007, then TCP close', async () => {
    const c = track(await RawClient.connect(echo.port));
    c.send({ opcode: OP.TEXT, payload: 'ok so far ', fin: false });
    c.send({ opcode: OP.CONT, payload: Buffer.from([0x61, 0xe2, 0x82]), fin: true });
    const close = await c.nextClose();
    assert.equal(close.code, 1007);
    // Answer the close as a client should; the server then drops the connection.
    c.send({ opcode: OP.CLOSE, payload: Buffer.from([0x03, 0xef]) });
    await withTimeout(c.ended, 5000, 'server to close TCP');
  });

  test(`a message of exactly --max-message (${MAX}) bytes is accepted`, async () => {
    const c = track(await Client.connect(echo.wsUrl));
    const text = 'x'.repeat(MAX);
    await c.send(text);
    assert.equal(await c.nextText(), text);
  });

  test('a message over --max-message closes with 1009 (echo)', async () => {
    const c = track(await Client.connect(echo.wsUrl));
    await c.send('y'.repeat(2000));
    const { code } = await c.waitClosed();
    assert.equal(code, 1009);
  });

  test('fragments adding up to more than --max-message close with 1009', async () => {
    const c = track(await Client.connect(echo.wsUrl));
    await c.send(Buffer.alloc(500, 0x41), { binary: true, fin: false });
    await c.send(Buffer.alloc(500, 0x42), { binary: true, fin: false });
    await c.send(Buffer.alloc(500, 0x43), { binary: true, fin: true });
    const { code } = await c.waitClosed();
    assert.equal(code, 1009);
  });

  test('a message over --max-message closes with 1009 (chat)', async () => {
    const { client } = await joinChat(chat);
    track(client);
    await client.send(JSON.stringify({ action: 'message', message: 'z'.repeat(2000) }));
    const { code } = await client.waitClosed();
    assert.equal(code, 1009);
  });
});
