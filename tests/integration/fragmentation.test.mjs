// Fragmented messages with control frames interleaved between the fragments.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  Client, OP, RawClient, startServer, stopServer, talkClient,
} from './lib/server.mjs';

describe('fragmentation and ping/pong', { timeout: 30_000 }, () => {
  let echo;
  let chat;
  const open = [];
  const track = (c) => { open.push(c); return c; };

  before(async () => {
    [echo, chat] = await Promise.all([startServer('echo'), startServer('chat')]);
  });
  after(async () => {
    await Promise.all(open.map((c) => (c.dispose ? c.dispose() : c.destroy())));
    await Promise.all([stopServer(echo), stopServer(chat)]);
  });

  test('echo: fragmented text with pings in between is reassembled; pongs echo the payload', async () => {
    const c = track(await Client.connect(`${echo.wsUrl}/anything`));
    await c.send('Hello, ', { fin: false });
    c.ws.ping('ping-one');
    await c.send('fragmented ', { fin: false });
    c.ws.ping(Buffer.from([0, 1, 2, 0xff]));
    await c.send('world', { fin: true });
    assert.deepEqual(await c.nextPong(), Buffer.from('ping-one'));
    assert.deepEqual(await c.nextPong(), Buffer.from([0, 1, 2, 0xff]));
    const msg = await c.next();
    assert.equal(msg.isBinary, false);
    assert.equal(msg.text, 'Hello, fragmented world');
  });

  test('echo: fragmented binary is reassembled exactly', async () => {
    const c = track(await Client.connect(echo.wsUrl));
    const parts = [Buffer.from([0, 1, 2]), Buffer.alloc(300, 0xab), Buffer.from([0xff])];
    await c.send(parts[0], { binary: true, fin: false });
    c.ws.ping('p');
    await c.send(parts[1], { binary: true, fin: false });
    await c.send(parts[2], { binary: true, fin: true });
    assert.deepEqual(await c.nextPong(), Buffer.from('p'));
    const msg = await c.next();
    assert.equal(msg.isBinary, true);
    assert.deepEqual(msg.data, Buffer.concat(parts));
  });

  test('echo: a UTF-8 character split across fragments is valid', async () => {
    const c = track(await Client.connect(echo.wsUrl));
    // "a€b" with the three bytes of € (e2 82 ac) split between two fragments.
    await c.send(Buffer.from([0x61, 0xe2]), { binary: false, fin: false });
    await c.send(Buffer.from([0x82, 0xac, 0x62]), { binary: false, fin: true });
    assert.equal(await c.nextText(), 'a€b');
  });

  test('raw: server answers pings mid-message and sends the message unmasked and whole', async () => {
    const c = track(await RawClient.connect(echo.port, '/'));
    c.send({ opcode: OP.TEXT, payload: 'Hel', fin: false });
    c.send({ opcode: OP.PING, payload: 'x1' });
    c.send({ opcode: OP.CONT, payload: 'lo, ', fin: false });
    c.send({ opcode: OP.PING, payload: '' });
    c.send({ opcode: OP.CONT, payload: 'world', fin: true });
    const expected = [
      { opcode: OP.PONG, payload: 'x1' },
      { opcode: OP.PONG, payload: '' },
      { opcode: OP.TEXT, payload: 'Hello, world' },
    ];
    for (const want of expected) {
      const f = await c.nextFrame();
      assert.equal(f.opcode, want.opcode);
      assert.equal(f.fin, true);
      assert.equal(f.masked, false, 'server frames must not be masked');
      assert.equal(f.rsv, 0);
      assert.equal(f.payload.toString('utf8'), want.payload);
    }
  });

  test('chat: fragmented request with pings is broadcast once, pongs carry the payload', async () => {
    // The talk's clients (no hello): the broadcast is the seed JSON and nothing else arrives.
    const a = track(await talkClient(chat));
    const b = track(await talkClient(chat));
    await a.send('{"action":"mess', { fin: false });
    a.ws.ping('alpha');
    await a.send('age","message":"frag', { fin: false });
    a.ws.ping('beta');
    await a.send('mented"}', { fin: true });

    assert.deepEqual(await a.nextPong(), Buffer.from('alpha'));
    assert.deepEqual(await a.nextPong(), Buffer.from('beta'));
    const got = await a.nextText();
    assert.match(got, /^\{"type":"message","body":"Client \d+: fragmented"\}$/);
    assert.equal(await b.nextText(), got);
    await a.expectSilence(150);
    await b.expectSilence(0);
  });
});
