// Chat semantics over `ws`: welcome, byte-exact broadcast, JSON escaping, error replies.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, joinChat, startServer, stopServer } from './lib/server.mjs';

const seed = (id, text) => `{"type":"message","body":"Client ${id}: ${text}"}`;
const errorReply = (code) => `{"type":"error","error":"${code}"}`;

describe('hibiki chat', { timeout: 30_000 }, () => {
  let server;
  const open = [];
  const join = async (path) => {
    const member = await joinChat(server, path);
    open.push(member.client);
    return member;
  };

  before(async () => { server = await startServer('chat'); });
  after(async () => {
    await Promise.all(open.map((c) => c.dispose()));
    await stopServer(server);
  });

  test("the talk's client (no hello) gets nothing but the seed JSON", async () => {
    const talk = await Client.connect(`${server.wsUrl}/`);
    open.push(talk);
    const a = await join('/ws');
    await talk.send('{"action":"message","message":"from the talk"}');
    const talkId = JSON.parse(await a.client.nextText()).body.match(/^Client (\S+):/)[1];
    assert.equal(await talk.nextText(), seed(talkId, 'from the talk'));
    await a.client.send('{"action":"message","message":"reply"}');
    assert.equal(await talk.nextText(), seed(a.id, 'reply'));
  });

  test('each client that says hello gets a welcome with its own decimal id', async () => {
    const a = await join('/');
    const b = await join('/ws');
    for (const m of [a, b]) {
      assert.match(m.id, /^\d+$/);
      assert.equal(m.welcome, `{"type":"welcome","id":"${m.id}"}`);
    }
    assert.notEqual(a.id, b.id);
  });

  test('a message reaches every client, sender included, byte-exact', async () => {
    const a = await join('/');
    const b = await join('/ws');
    await a.client.send('{"action":"message","message":"hello"}');
    assert.equal(await a.client.nextText(), seed(a.id, 'hello'));
    assert.equal(await b.client.nextText(), seed(a.id, 'hello'));

    await b.client.send(JSON.stringify({ action: 'message', message: 'hi back' }));
    assert.equal(await a.client.nextText(), seed(b.id, 'hi back'));
    assert.equal(await b.client.nextText(), seed(b.id, 'hi back'));
  });

  test('awkward text survives JSON escaping', async () => {
    const a = await join('/');
    const b = await join('/');
    const text = 'say "hi"\\ \nline2\ttab / ünïcödé 日本語 🎉 <script>alert(1)</script> \u0001\u001f end';
    await a.client.send(JSON.stringify({ action: 'message', message: text }));
    for (const c of [a.client, b.client]) {
      const raw = await c.nextText();
      assert.doesNotMatch(raw, /[\u0000-\u001f]/, 'control characters must be escaped');
      const parsed = JSON.parse(raw);
      assert.deepEqual(Object.keys(parsed), ['type', 'body']);
      assert.deepEqual(parsed, { type: 'message', body: `Client ${a.id}: ${text}` });
    }
  });

  test('bad requests get an error reply to the sender only; the connection stays usable', async () => {
    const a = await join('/');
    const b = await join('/');
    const cases = [
      ['not json at all', 'invalid_json'],
      ['{"action":"message","message":"unterminated', 'invalid_json'],
      ['{"action":"dance","message":"x"}', 'unknown_action'],
      ['{"message":"no action"}', 'unknown_action'],
      ['{"action":"message"}', 'invalid_message'],
      ['{"action":"message","message":42}', 'invalid_message'],
      ['{"action":"message","message":null}', 'invalid_message'],
    ];
    for (const [request, code] of cases) {
      await a.client.send(request);
      assert.equal(await a.client.nextText(), errorReply(code), `reply to ${request}`);
    }
    await a.client.send(Buffer.from([1, 2, 3]), { binary: true });
    assert.equal(await a.client.nextText(), errorReply('binary_not_supported'));

    // b saw none of that: its next message is this broadcast, which a also receives.
    await b.client.send('{"action":"message","message":"still there?"}');
    assert.equal(await b.client.nextText(), seed(b.id, 'still there?'));
    assert.equal(await a.client.nextText(), seed(b.id, 'still there?'));

    // And a can still talk.
    await a.client.send('{"action":"message","message":"yes"}');
    assert.equal(await a.client.nextText(), seed(a.id, 'yes'));
    assert.equal(await b.client.nextText(), seed(a.id, 'yes'));
  });
});
