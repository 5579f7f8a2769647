// The chat's wire contract: the talk's exact JSON for clients that never say hello, the
// welcome and structured messages for clients that do, and an error reply (connection kept)
// for every kind of bad input.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { joinChat, startServer, stopServer, talkClient } from './lib/server.mjs';

const seed = (label, text) => `{"type":"message","body":"Client ${label}: ${text}"}`;
const bareError = (code) => `{"type":"error","error":"${code}"}`;

describe('hibiki chat', { timeout: 30_000 }, () => {
  let server;
  const open = [];
  const track = (client) => { open.push(client); return client; };
  const join = async (path, options) => {
    const member = await joinChat(server, path, options);
    track(member.client);
    return member;
  };

  // A burst big enough for the bad-input walk below; rate limiting has its own test.
  before(async () => { server = await startServer('chat', { extraArgs: ['--rate-burst', '100'] }); });
  after(async () => {
    await Promise.all(open.map((c) => c.dispose()));
    await stopServer(server);
  });

  test("the talk's client (no hello) sends the seed JSON and gets the exact seed reply", async () => {
    const talk = track(await talkClient(server, '/'));
    const other = track(await talkClient(server, '/ws'));
    await talk.send('{"action":"message","message":"Hello"}');
    const reply = await talk.nextText();
    const match = /^\{"type":"message","body":"Client (\d+): Hello"\}$/.exec(reply);
    assert.ok(match, `seed reply: ${reply}`);
    assert.deepEqual(Object.keys(JSON.parse(reply)), ['type', 'body']);
    assert.equal(await other.nextText(), reply, 'every client gets the same bytes');
  });

  test("the talk's client hears others in its room in the seed shape only, never presence", async () => {
    const talk = track(await talkClient(server));
    await talk.send('{"action":"message","message":"hi all"}');
    const talkId = /Client (\d+):/.exec(await talk.nextText())[1];
    const a = await join('/', { name: 'ayumi' });           // presence join + hello: not for talk
    const b = await join('/ws');
    await a.client.send('{"action":"message","message":"from a named client"}');
    assert.equal(await talk.nextText(), seed('ayumi', 'from a named client'));
    await b.client.send('{"action":"message","message":"from an unnamed one"}');
    assert.equal(await talk.nextText(), seed(b.id, 'from an unnamed one'));
    // A room the talk's client is not in stays silent for it.
    await a.client.send('{"action":"join","room":"elsewhere"}');
    await a.client.nextOfType('history');
    await a.client.send('{"action":"message","message":"not for talk","room":"elsewhere"}');
    await a.client.nextOfType('message');
    await talk.send('{"action":"message","message":"still here"}');
    assert.equal(await talk.nextText(), seed(talkId, 'still here'));
    await talk.expectSilence(100);
  });

  test("the talk's client gets bare errors, and hibiki's actions need a hello", async () => {
    const talk = track(await talkClient(server));
    const cases = [
      ['nope', 'invalid_json'],
      ['{"action":"dance"}', 'unknown_action'],
      ['{"action":"message","message":7}', 'invalid_message'],
      ['{"action":"join","room":"dev"}', 'hello_required'],
      ['{"action":"nick","name":"bob"}', 'hello_required'],
      ['{"action":"message","message":"x","room":"dev"}', 'not_in_room'],
      ['{"action":"message","message":"   "}', 'empty_message'],
    ];
    for (const [request, code] of cases) {
      await talk.send(request);
      assert.equal(await talk.nextText(), bareError(code), `reply to ${request}`);
    }
  });

  test('hello gets a welcome with a decimal id, the lobby and the limits, then the lobby state', async () => {
    const a = await join('/');
    const b = await join('/ws');
    for (const m of [a, b]) {
      assert.match(m.id, /^\d+$/);
      const welcome = JSON.parse(m.welcome);
      assert.deepEqual(Object.keys(welcome), ['type', 'id', 'name', 'room', 'limits']);
      assert.equal(welcome.name, null);
      assert.equal(welcome.room, 'lobby');
      assert.deepEqual(welcome.limits, { text: 4000, rooms: 10, history: 50, rate: 10, burst: 100,
        name: 24, room: 32 });
      assert.equal(m.joined.room, 'lobby');
      assert.ok(m.joined.members.some((x) => x.id === m.id && x.name === null));
      assert.equal(m.history.room, 'lobby');
      assert.ok(Array.isArray(m.history.messages));
    }
    assert.notEqual(a.id, b.id);
    // b's arrival was announced to a.
    const presence = await a.client.nextOfType('presence');
    assert.deepEqual(presence.member, { id: b.id, name: null });
    assert.equal(presence.event, 'join');
  });

  test('a message reaches everyone in the room, sender included, with structured fields', async () => {
    const a = await join('/', { name: 'kenji' });
    const b = await join('/ws');
    const before = Date.now();
    await a.client.send('{"action":"message","message":"hello"}');
    const got = [await a.client.nextOfType('message'), await b.client.nextOfType('message')];
    for (const m of got) {
      assert.deepEqual(Object.keys(m), ['type', 'body', 'id', 'room', 'from', 'text', 'ts']);
      assert.equal(m.body, 'Client kenji: hello');
      assert.equal(m.room, 'lobby');
      assert.deepEqual(m.from, { id: a.id, name: 'kenji' });
      assert.equal(m.text, 'hello');
      assert.ok(Number.isInteger(m.id) && m.id > 0);
      assert.ok(m.ts >= before - 1000 && m.ts <= Date.now() + 1000, `ts ${m.ts}`);
    }
    assert.deepEqual(got[0], got[1]);
    await b.client.send('{"action":"message","message":"again"}');
    const next = await a.client.nextOfType('message');
    assert.equal(next.id, got[0].id + 1, 'ids increase by one per room');
    assert.equal(next.body, `Client ${b.id}: again`);
    assert.equal(next.from.name, null);
  });

  test('awkward text survives JSON escaping in both shapes', async () => {
    const talk = track(await talkClient(server));
    const a = await join('/');
    const text = 'say "hi"\\ \nline2\ttab / ünïcödé 日本語 🎉 <script>alert(1)</script> \u0001\u001f end';
    await a.client.send(JSON.stringify({ action: 'message', message: text }));
    const raw = await a.client.nextText();
    assert.doesNotMatch(raw, /[\u0000-\u001f]/, 'control characters must be escaped');
    const parsed = JSON.parse(raw);
    assert.equal(parsed.text, text);
    assert.equal(parsed.body, `Client ${a.id}: ${text}`);
    const talkRaw = await talk.nextText();
    assert.doesNotMatch(talkRaw, /[\u0000-\u001f]/);
    assert.deepEqual(JSON.parse(talkRaw), { type: 'message', body: `Client ${a.id}: ${text}` });
  });

  test('bad requests get a detailed error to the sender only; the connection stays usable', async () => {
    const a = await join('/');
    const b = await join('/');
    await a.client.nextOfType('presence'); // b's arrival
    const cases = [
      ['not json at all', 'invalid_json'],
      ['{"action":"message","message":"unterminated', 'invalid_json'],
      ['[1,2,3]', 'invalid_json'],
      ['{"action":"dance","message":"x"}', 'unknown_action'],
      ['{"message":"no action"}', 'unknown_action'],
      ['{"action":42}', 'unknown_action'],
      ['{"action":"message"}', 'invalid_message'],
      ['{"action":"message","message":42}', 'invalid_message'],
      ['{"action":"message","message":null}', 'invalid_message'],
      ['{"action":"message","message":""}', 'empty_message'],
      ['{"action":"message","message":"x","room":7}', 'invalid_room'],
      ['{"action":"join"}', 'invalid_room'],
      ['{"action":"join","room":{"name":"dev"}}', 'invalid_room'],
      ['{"action":"join","room":"Not Valid"}', 'invalid_room'],
      [JSON.stringify({ action: 'join', room: 'r'.repeat(33) }), 'invalid_room'],
      ['{"action":"join","room":"dev","since":"5"}', 'invalid_since'],
      ['{"action":"join","room":"dev","since":-3}', 'invalid_since'],
      ['{"action":"nick"}', 'invalid_name'],
      ['{"action":"nick","name":["x"]}', 'invalid_name'],
      ['{"action":"nick","name":"has space"}', 'invalid_name'],
      ['{"action":"nick","name":"1234"}', 'invalid_name'],
      [JSON.stringify({ action: 'nick', name: 'n'.repeat(10_000) }), 'invalid_name'],
      ['{"action":"leave","room":"never-joined"}', 'not_in_room'],
      ['{"action":"history","room":"never-joined"}', 'not_in_room'],
      ['{"action":"history","room":"lobby","before":0}', 'invalid_before'],
      ['{"action":"message","message":"x","room":"never-joined"}', 'not_in_room'],
    ];
    for (const [request, code] of cases) {
      await a.client.send(request);
      const reply = await a.client.nextJson();
      assert.equal(reply.type, 'error', `reply to ${request}: ${JSON.stringify(reply)}`);
      assert.equal(reply.error, code, `reply to ${request}`);
      assert.equal(typeof reply.detail, 'string');
      assert.ok(reply.detail.length > 10);
      assert.ok(!JSON.stringify(reply).includes('n'.repeat(100)), 'refused input is not echoed');
    }
    await a.client.send(Buffer.from([1, 2, 3]), { binary: true });
    assert.equal((await a.client.nextJson()).error, 'binary_not_supported');

    // b saw none of that: its next message is this broadcast, which a also receives.
    await b.client.send('{"action":"message","message":"still there?"}');
    assert.equal((await b.client.nextJson()).text, 'still there?');
    assert.equal((await a.client.nextJson()).text, 'still there?');
    // And a can still talk and join.
    await a.client.send('{"action":"join","room":"dev"}');
    assert.equal((await a.client.nextJson()).type, 'joined');
  });
});
