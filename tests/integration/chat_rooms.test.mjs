// Rooms, names and presence over real sockets: isolation through the server's topics, the
// presence events each change sends, unique names, and the per-connection room cap.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { joinChat, startServer, stopServer, talkClient } from './lib/server.mjs';

describe('chat rooms, names and presence', { timeout: 30_000 }, () => {
  let server;
  const open = [];
  const join = async (options) => {
    const member = await joinChat(server, '/', options);
    open.push(member.client);
    return member;
  };
  // Joins `room` and returns the { joined, history } replies (presence before them is skipped;
  // nothing can come between the two).
  const enter = async (member, room, since) => {
    await member.client.send(JSON.stringify({ action: 'join', room, since }));
    const joined = await member.client.nextOfType('joined');
    assert.equal(joined.room, room);
    const history = await member.client.nextJson();
    assert.equal(history.type, 'history', JSON.stringify(history));
    return { joined, history };
  };

  before(async () => {
    server = await startServer('chat', { extraArgs: ['--max-rooms', '3', '--rate-burst', '100'] });
  });
  after(async () => {
    await Promise.all(open.map((c) => c.dispose()));
    await stopServer(server);
  });

  test("one room's messages never reach another room", async () => {
    const a = await join({ name: 'iso-a' });
    const b = await join({ name: 'iso-b' });
    const c = await join({ name: 'iso-c' });
    const talk = await talkClient(server);
    open.push(talk);
    await enter(a, 'iso-red');
    await enter(c, 'iso-red');
    await enter(b, 'iso-blue');
    await a.client.nextOfType('presence'); // c joined iso-red

    await a.client.send('{"action":"message","message":"red only","room":"iso-red"}');
    for (const m of [a, c]) {
      const got = await m.client.nextOfType('message');
      assert.equal(got.room, 'iso-red');
      assert.equal(got.text, 'red only');
    }
    // Without "room", a message goes to the current room: the one joined last.
    await b.client.send('{"action":"message","message":"blue current"}');
    const blue = await b.client.nextOfType('message');
    assert.equal(blue.room, 'iso-blue');
    await c.client.send('{"action":"message","message":"lobby now","room":"lobby"}');
    const lobby = await b.client.nextOfType('message');
    assert.equal(lobby.room, 'lobby');
    assert.equal(lobby.text, 'lobby now');
    assert.equal(await talk.nextText(), '{"type":"message","body":"Client iso-c: lobby now"}');

    // Per-room ids: each room counts on its own.
    assert.equal(blue.id, 1);
    for (const m of [a, c]) {
      const got = await m.client.nextOfType('message');
      assert.equal(got.room, 'lobby');
    }
    await Promise.all([a, b, c].map((m) => m.client.expectSilence(100)));
    await talk.expectSilence(0);
  });

  test('joining gets the member list; the room hears join, nick and leave; disconnect is a leave', async () => {
    const a = await join({ name: 'pres-a' });
    await enter(a, 'pres');
    const b = await join();
    const { joined } = await enter(b, 'pres');
    assert.deepEqual(joined.members, [{ id: a.id, name: 'pres-a' }, { id: b.id, name: null }]);

    const joinEvent = await a.client.nextOfType('presence');
    while (joinEvent.room !== 'pres') Object.assign(joinEvent, await a.client.nextOfType('presence'));
    assert.deepEqual(joinEvent, { type: 'presence', room: 'pres', event: 'join',
      member: { id: b.id, name: null }, count: 2 });

    await b.client.send('{"action":"nick","name":"pres-b"}');
    // b is in the lobby and 'pres': a shares both, so it hears the change once per room.
    const nicks = [await a.client.nextOfType('presence'), await a.client.nextOfType('presence')];
    assert.deepEqual(nicks.map((n) => n.room).sort(), ['lobby', 'pres']);
    for (const n of nicks) {
      assert.equal(n.event, 'nick');
      assert.deepEqual(n.member, { id: b.id, name: 'pres-b' });
      assert.equal(n.previous, null);
    }
    const reply = await b.client.nextOfType('nick');
    assert.deepEqual(reply, { type: 'nick', id: b.id, name: 'pres-b' });

    await b.client.send('{"action":"leave","room":"pres"}');
    assert.deepEqual(await b.client.nextOfType('left'), { type: 'left', room: 'pres' });
    const leave = await a.client.nextOfType('presence');
    assert.deepEqual(leave, { type: 'presence', room: 'pres', event: 'leave',
      member: { id: b.id, name: 'pres-b' }, count: 1 });
    await b.client.send('{"action":"message","message":"x","room":"pres"}');
    assert.equal((await b.client.nextOfType('error')).error, 'not_in_room');

    await b.client.dispose();
    const gone = await a.client.nextOfType('presence');
    assert.deepEqual(gone, { type: 'presence', room: 'lobby', event: 'leave',
      member: { id: b.id, name: 'pres-b' }, count: gone.count });
  });

  test('names are unique on the server, ignoring ASCII case; a taken name gets a suffix', async () => {
    const a = await join({ name: 'Sakura' });
    assert.equal(a.name, 'Sakura');
    const b = await join({ name: 'sakura' });
    assert.equal(b.name, 'sakura-2');
    const c = await join();
    await c.client.send('{"action":"nick","name":"SAKURA"}');
    assert.equal((await c.client.nextOfType('nick')).name, 'SAKURA-3');
    // A long name keeps within 24 characters with its suffix.
    const long = 'x'.repeat(24);
    const d = await join({ name: long });
    const e = await join({ name: long });
    assert.equal(e.name, `${'x'.repeat(22)}-2`);
    // Freed names can be taken again; renaming to one's own name changes nothing.
    await a.client.send('{"action":"nick","name":"Sakura"}');
    assert.equal((await a.client.nextOfType('nick')).name, 'Sakura');
    await d.client.dispose();
    // The name is free once the server has seen d go: the room hears it leave.
    for (;;) {
      const p = await e.client.nextOfType('presence');
      if (p.event === 'leave' && p.member.id === d.id) break;
    }
    await c.client.send(JSON.stringify({ action: 'nick', name: long }));
    assert.equal((await c.client.nextOfType('nick')).name, long);
  });

  test('a connection may be in --max-rooms rooms; leaving makes room for another', async () => {
    const a = await join();
    await enter(a, 'cap-1');
    await enter(a, 'cap-2'); // lobby + 2 = 3
    await a.client.send('{"action":"join","room":"cap-3"}');
    const refused = await a.client.nextJson();
    assert.equal(refused.error, 'too_many_rooms');
    assert.equal(refused.max, 3);
    assert.equal(refused.room, 'cap-3');
    // Re-joining a room one is in is not a new room: it answers with the state again.
    await enter(a, 'cap-1');
    await a.client.send('{"action":"leave","room":"lobby"}');
    await a.client.nextOfType('left');
    await enter(a, 'cap-3');
  });

  test('leaving every room leaves messages without a room nowhere to go', async () => {
    const a = await join();
    await a.client.send('{"action":"leave","room":"lobby"}');
    await a.client.nextOfType('left');
    await a.client.send('{"action":"message","message":"anyone?"}');
    assert.equal((await a.client.nextJson()).error, 'no_room');
    await a.client.send('{"action":"hello"}');
    const welcome = await a.client.nextJson();
    assert.equal(welcome.type, 'welcome');
    assert.equal(welcome.room, null);
  });
});
