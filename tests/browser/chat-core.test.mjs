// The page's protocol state (web/chat-core.js) without a browser: resume frames, duplicate
// filtering, history gaps, unread counts, presence and validation; and basic mode, for a
// server that speaks only the talk's JSON.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  BASIC, BASIC_ROOM, ChatState, HIBIKI, SERVICE_RESTART, backoffDelay, displayName, hueFor,
  isValidName, isValidRoom, parseBody, reconnectDelay, serverHint,
} from '../../web/chat-core.js';

const msg = (room, id, text, fromId = '2', name = 'bo') => ({
  type: 'message', body: `Client ${name ?? fromId}: ${text}`, id, room,
  from: { id: fromId, name }, text, ts: 1_700_000_000_000 + id,
});
const history = (room, messages, extra = {}) => ({ type: 'history', room, messages,
  latest: messages.at(-1)?.id ?? 0, ...extra });
const texts = (state, room) => state.rooms.get(room).items.filter((i) => i.kind === 'message').map((i) => i.text);

function online(state, id = '1', name = null) {
  const frames = state.startSession();
  state.handle({ type: 'welcome', id, name, room: 'lobby', limits: { text: 100 } });
  return frames;
}

describe('chat-core', () => {
  test('a first session says hello, joins the other rooms and leaves an unwanted lobby', () => {
    const state = new ChatState({ rooms: ['dev', 'ops'], name: 'ami' });
    assert.deepEqual(JSON.parse(JSON.stringify(state.startSession())), [
      { action: 'hello', name: 'ami' },
      { action: 'join', room: 'dev' },
      { action: 'join', room: 'ops' },
      { action: 'leave', room: 'lobby' },
    ]);
  });

  test('a later session resumes every synced room after its last id', () => {
    const state = new ChatState({ rooms: ['lobby', 'dev', 'ops'] });
    online(state);
    state.handle(history('lobby', [msg('lobby', 1, 'a'), msg('lobby', 2, 'b')]));
    state.handle(history('dev', []));
    state.handle(msg('dev', 1, 'x'));
    state.endSession();
    assert.deepEqual(JSON.parse(JSON.stringify(state.startSession())), [
      { action: 'hello', since: 2 },
      { action: 'join', room: 'dev', since: 1 },
      { action: 'join', room: 'ops' }, // never synced: the last N, not a resume
    ]);
  });

  test('messages already shown are never shown twice', () => {
    const state = new ChatState();
    online(state);
    state.handle(history('lobby', [msg('lobby', 1, 'a'), msg('lobby', 2, 'b')]));
    state.handle(msg('lobby', 2, 'b'));
    state.handle(msg('lobby', 3, 'c'));
    state.handle(history('lobby', [msg('lobby', 2, 'b'), msg('lobby', 3, 'c'), msg('lobby', 4, 'd')]));
    assert.deepEqual(texts(state, 'lobby'), ['a', 'b', 'c', 'd']);
    // The talk's shape (no id) and rooms we are not in are ignored.
    state.handle({ type: 'message', body: 'Client 9: old shape' });
    state.handle(msg('elsewhere', 5, 'nope'));
    assert.deepEqual(texts(state, 'lobby'), ['a', 'b', 'c', 'd']);
  });

  test('a history_gap replaces the room with the history that follows', () => {
    const state = new ChatState();
    online(state);
    state.handle(history('lobby', [msg('lobby', 7, 'old7'), msg('lobby', 8, 'old8')]));
    state.handle({ type: 'error', error: 'history_gap', room: 'lobby', since: 8, latest: 3 });
    const change = state.handle(history('lobby', [msg('lobby', 2, 'new2'), msg('lobby', 3, 'new3')]));
    assert.equal(change.timeline.kind, 'reset');
    assert.deepEqual(texts(state, 'lobby'), ['new2', 'new3']);
    assert.equal(state.rooms.get('lobby').lastId, 3);
    state.handle(msg('lobby', 4, 'live'));
    assert.deepEqual(texts(state, 'lobby'), ['new2', 'new3', 'live']);
  });

  test('background rooms count unread messages from others, not the first history', () => {
    const state = new ChatState({ rooms: ['lobby', 'dev'] });
    online(state, '1');
    state.handle(history('dev', [msg('dev', 1, 'before')]));
    assert.equal(state.rooms.get('dev').unread, 0);
    state.handle(msg('dev', 2, 'new'));
    state.handle(msg('dev', 3, 'mine', '1', null));
    assert.equal(state.rooms.get('dev').unread, 1);
    assert.equal(state.totalUnread(), 1);
    state.switchRoom('dev');
    assert.equal(state.totalUnread(), 0);
  });

  test('own messages stay "mine" across reconnects by their key', () => {
    const state = new ChatState();
    online(state, '1');
    state.handle(history('lobby', []));
    state.handle(msg('lobby', 1, 'hi', '1', null));
    const sent = state.sentKeys();
    const reloaded = new ChatState({ sent });
    online(reloaded, '5');
    reloaded.handle(history('lobby', [msg('lobby', 1, 'hi', '1', null), msg('lobby', 2, 'x', '1', null)]));
    const items = reloaded.rooms.get('lobby').items;
    assert.deepEqual(items.map((i) => i.mine), [true, false]); // id 1 of the old run is not us
  });

  test('presence keeps the member list and notes; a fresh join then name is one note', () => {
    const state = new ChatState();
    online(state, '1');
    state.handle({ type: 'joined', room: 'lobby', members: [{ id: '1', name: null }] });
    state.handle({ type: 'presence', room: 'lobby', event: 'join', member: { id: '4', name: null }, count: 2 });
    const change = state.handle({ type: 'presence', room: 'lobby', event: 'nick',
      member: { id: '4', name: 'kai' }, count: 2, previous: null });
    assert.equal(change.timeline.kind, 'update');
    const room = state.rooms.get('lobby');
    assert.deepEqual(room.items.map((i) => i.text), ['kai joined']);
    assert.deepEqual([...room.members.values()], [{ id: '1', name: null }, { id: '4', name: 'kai' }]);
    state.handle({ type: 'presence', room: 'lobby', event: 'leave', member: { id: '4', name: 'kai' }, count: 1 });
    assert.equal(room.members.size, 1);
    assert.equal(room.items.at(-1).text, 'kai left');
  });

  test('a name held by a vanished connection is asked for again once it is freed', () => {
    // Reconnected to another node while the old connection still held "Aiko": we got -2.
    const state = new ChatState({ name: 'Aiko' });
    online(state, '9', 'Aiko-2');
    state.handle({ type: 'joined', room: 'lobby', members: [{ id: '3', name: 'Aiko' }, { id: '9', name: 'Aiko-2' }] });
    // Someone else leaving, or another name freed, changes nothing.
    assert.equal(state.handle({ type: 'presence', room: 'lobby', event: 'leave',
      member: { id: '5', name: 'kai' }, count: 2 }).reclaim, null);
    // The old connection leaves (its node was taken for dead): ask for the name again; the
    // server compares names without ASCII case, so does the page.
    const change = state.handle({ type: 'presence', room: 'lobby', event: 'leave',
      member: { id: '3', name: 'aiko' }, count: 1 });
    assert.deepEqual(change.reclaim, { action: 'nick', name: 'Aiko' });
    // A name given up by a rename is free as well; once we have it, nothing more is asked.
    assert.deepEqual(state.handle({ type: 'presence', room: 'lobby', event: 'nick',
      member: { id: '4', name: 'other' }, count: 2, previous: 'AIKO' }).reclaim, { action: 'nick', name: 'Aiko' });
    state.handle({ type: 'nick', id: '9', name: 'Aiko' });
    assert.equal(state.handle({ type: 'presence', room: 'lobby', event: 'leave',
      member: { id: '4', name: 'aiko' }, count: 1 }).reclaim, null);
  });

  test('a refused join drops the room; other errors become notices', () => {
    const state = new ChatState();
    online(state);
    assert.deepEqual(state.addRoom('#Garden').frame, { action: 'join', room: 'garden', since: undefined });
    assert.equal(state.current, 'garden');
    const change = state.handle({ type: 'error', error: 'too_many_rooms', action: 'join', room: 'garden', max: 1 });
    assert.equal(state.rooms.has('garden'), false);
    assert.equal(state.current, 'lobby');
    assert.match(change.notice.text, /at most 1 rooms/);
    assert.match(state.handle({ type: 'error', error: 'rate_limited', retry_ms: 1500 }).notice.text, /2 s/);
    assert.ok(state.addRoom('bad room').error);
  });

  test('load older asks before the oldest message and prepends the answer', () => {
    const state = new ChatState();
    online(state);
    state.handle({ type: 'joined', room: 'lobby', members: [] });
    state.handle(history('lobby', [msg('lobby', 5, 'e'), msg('lobby', 6, 'f')]));
    assert.deepEqual(state.loadOlder(), { action: 'history', room: 'lobby', before: 5 });
    assert.equal(state.loadOlder(), null, 'one request at a time');
    state.handle(history('lobby', [msg('lobby', 3, 'c'), msg('lobby', 4, 'd')], { before: 5 }));
    assert.deepEqual(texts(state, 'lobby'), ['c', 'd', 'e', 'f']);
  });

  test('helpers: names, rooms, bodies, colours, backoff', () => {
    assert.ok(isValidName('ami') && isValidName('日本') && isValidName('a.b-c_d'));
    assert.ok(!isValidName('two words') && !isValidName('123') && !isValidName('x'.repeat(25)));
    assert.ok(!isValidName('nb\u00a0sp') && !isValidName('zw\u200bj') && !isValidName(''));
    assert.ok(isValidRoom('dev-1') && !isValidRoom('Dev') && !isValidRoom('-x'));
    assert.deepEqual(parseBody('Client ami: hi: there'), { sender: 'ami', text: 'hi: there' });
    assert.equal(displayName({ id: '7', name: null }), 'Client 7');
    assert.notEqual(hueFor('1'), hueFor('2'));
    assert.equal(backoffDelay(0, () => 0.5), 1000);
    assert.equal(backoffDelay(10, () => 1), 30_000);
  });

  test('a server restart (1012) is followed by an immediate reconnect, then backoff', () => {
    assert.equal(SERVICE_RESTART, 1012);
    assert.equal(reconnectDelay(1012, 0, () => 0.5), 0);
    // The successor was not there: the next attempts back off as usual.
    assert.equal(reconnectDelay(1012, 1, () => 0.5), 2000);
    assert.equal(reconnectDelay(1001, 0, () => 0.5), 1000);
    assert.equal(reconnectDelay(1006, 0, () => 0.5), 1000);
    assert.equal(reconnectDelay(undefined, 3, () => 0.5), 8000);
  });
});

const FORBIDDEN = { message: 'Forbidden', connectionId: 'L0SM9cOFvHcCIhw=', requestId: 'L0SNAGkGvHcFm8g=' };
const talk = (sender, text) => ({ type: 'message', body: `Client ${sender}: ${text}` });
const basicItems = (state) => state.basic.items.map((i) => (i.kind === 'message'
  ? [i.from.id, i.text, i.mine] : ['note', i.text]));

describe('chat-core: basic mode', () => {
  test('what a frame before the welcome says about the server', () => {
    assert.equal(serverHint({ type: 'welcome', id: '1', name: null }), HIBIKI);
    assert.equal(serverHint(FORBIDDEN), BASIC);
    assert.equal(serverHint({ message: 'Forbidden' }), BASIC);
    assert.equal(serverHint({ message: 'Internal server error', connectionId: 'x', requestId: 'y' }), BASIC);
    assert.equal(serverHint({ type: 'error', error: 'unknown_action' }), BASIC);
    assert.equal(serverHint({ type: 'error', error: 'dance' }), BASIC);
    // hibiki refusing the hello's fields, and its answer to the joins after that: it knows hello.
    assert.equal(serverHint({ type: 'error', error: 'invalid_name', action: 'hello', detail: '…' }), null);
    assert.equal(serverHint({ type: 'error', error: 'hello_required' }), null);
    assert.equal(serverHint(talk('3', 'hi')), 'talk');
    assert.equal(serverHint(msg('lobby', 1, 'hi')), null);
    for (const junk of [null, 5, 'x', [], {}, { message: 'hi' }]) assert.equal(serverHint(junk), null);
  });

  test('a Forbidden answer to hello: basic mode, the talk\'s frame out, the talk\'s body in', () => {
    const state = new ChatState({ rooms: ['lobby', 'dev'], name: 'ami' });
    const frames = state.startSession();
    assert.equal(frames[0].action, 'hello');
    const change = state.handle(FORBIDDEN);
    assert.equal(change.mode, true);
    assert.equal(state.view, BASIC);
    assert.equal(state.viewKey, BASIC_ROOM);
    assert.equal(change.timeline.room, BASIC_ROOM);
    assert.equal(state.me, null);
    // The answers to the other frames the session began with change nothing.
    assert.deepEqual(state.handle(FORBIDDEN), state.handle({ type: 'nothing' }));
    assert.deepEqual(state.compose('hi <b>there</b>'), { action: 'message', message: 'hi <b>there</b>' });
    assert.equal(state.compose('   '), null);
    state.handle(talk('8', 'before mine'));
    const echo = state.handle(talk('7', 'hi <b>there</b>'));
    assert.equal(echo.timeline.kind, 'append');
    assert.deepEqual(echo.timeline.items[0].from, { id: '7', name: null });
    assert.equal(displayName(echo.timeline.items[0].from), 'Client 7');
    state.handle(talk('8', 'hi <b>there</b>')); // the same text again: not ours, nothing pending
    state.handle({ type: 'message', body: 'server restarting' }); // not the talk's shape
    assert.deepEqual(basicItems(state), [['8', 'before mine', false], ['7', 'hi <b>there</b>', true],
      ['8', 'hi <b>there</b>', false], ['note', 'server restarting']]);
    // Rooms are untouched, for a server that learns hello later.
    assert.deepEqual([...state.rooms.keys()], ['lobby', 'dev']);
    assert.equal(state.loadOlder(), null);
  });

  test('no answer at all: basic mode when the hello times out, with what came meanwhile', () => {
    const state = new ChatState();
    state.startSession();
    assert.equal(state.handle(talk('2', 'early')).timeline, null, 'held, not shown yet');
    const change = state.helloTimedOut();
    assert.equal(change.mode, true);
    assert.equal(change.timeline.kind, 'reset');
    assert.deepEqual(basicItems(state), [['2', 'early', false]]);
    assert.equal(state.helloTimedOut(), null, 'decided once');
  });

  test('a talk-shaped frame before the welcome is no proof: hibiki sends them before it reads hello', () => {
    const state = new ChatState();
    state.startSession();
    state.handle(talk('2', 'said before our hello was read'));
    const change = state.handle({ type: 'welcome', id: '5', name: null, room: 'lobby', limits: {} });
    assert.equal(change.mode, false);
    assert.equal(state.view, HIBIKI);
    assert.equal(state.helloTimedOut(), null, 'the welcome decided it');
    state.handle(history('lobby', [msg('lobby', 1, 'said before our hello was read', '2', null)]));
    assert.deepEqual(texts(state, 'lobby'), ['said before our hello was read']);
    assert.deepEqual(state.basic.items, []);
    state.handle(FORBIDDEN);
    state.handle(talk('2', 'late talk shape'));
    assert.equal(state.view, HIBIKI, 'after the welcome, nothing changes the mode');
  });

  test('our own text coming back as talk before any welcome proves a basic server', () => {
    const state = new ChatState();
    state.startSession();
    // Typed while the mode was unknown: the hibiki frame, remembered in case of a basic server.
    assert.deepEqual(state.compose('quick'), { action: 'message', room: 'lobby', message: 'quick' });
    state.handle(talk('4', 'someone else'));
    assert.equal(state.view, HIBIKI);
    const change = state.handle(talk('9', 'quick'));
    assert.equal(change.mode, true);
    assert.deepEqual(basicItems(state), [['4', 'someone else', false], ['9', 'quick', true]]);
  });

  test('own messages: the oldest matching unechoed text, FIFO; older unmatched ones are dropped', () => {
    const state = new ChatState();
    state.startSession();
    state.handle({ type: 'error', error: 'unknown_action' });
    assert.equal(state.view, BASIC);
    for (const text of ['a', 'b', 'a', 'refused', 'c']) state.compose(text);
    for (const [from, text] of [['1', 'a'], ['2', 'b'], ['1', 'b'], ['1', 'a'], ['1', 'c'],
      ['3', 'refused'], ['1', 'a']]) state.handle(talk(from, text));
    assert.deepEqual(basicItems(state), [
      ['1', 'a', true], ['2', 'b', true], // the server said it was 2: it is the text that counts
      ['1', 'b', false], ['1', 'a', true], ['1', 'c', true],
      ['3', 'refused', false], // sent before 'c', which came back first: never coming
      ['1', 'a', false]]);
  });

  test('errors in basic mode: the answers to hello and join are quiet, others are notices', () => {
    const state = new ChatState();
    state.startSession();
    state.handle(FORBIDDEN);
    assert.equal(state.handle({ type: 'error', error: 'unknown_action' }).notice, null);
    assert.equal(state.handle(FORBIDDEN).notice, null);
    assert.match(state.handle({ type: 'error', error: 'rate_limited', retry_ms: 900 }).notice.text, /1 s/);
    assert.match(state.handle({ message: 'Internal server error', connectionId: 'x' }).notice.text,
      /Internal server error/);
  });

  test('a reconnect says hello again: the same basic view, or the rooms back on a welcome', () => {
    const state = new ChatState({ rooms: ['lobby', 'dev'] });
    const first = JSON.stringify(state.startSession());
    state.handle(FORBIDDEN);
    state.compose('lost in the disconnect');
    state.handle(talk('1', 'kept'));
    state.endSession();
    assert.equal(state.view, BASIC, 'no flash of the room list while waiting again');
    assert.equal(JSON.stringify(state.startSession()), first, 'hello (and the joins) again');
    state.handle(talk('2', 'lost in the disconnect'));
    const again = state.helloTimedOut();
    assert.equal(again.mode, false);
    assert.equal(again.timeline.kind, 'append');
    assert.deepEqual(basicItems(state), [['1', 'kept', false], ['2', 'lost in the disconnect', false]]);

    state.endSession();
    state.startSession();
    const upgrade = state.handle({ type: 'welcome', id: '3', name: null, room: 'lobby', limits: {} });
    assert.equal(upgrade.mode, true);
    assert.equal(state.view, HIBIKI);
    assert.equal(state.viewKey, 'lobby');
    assert.deepEqual(upgrade.timeline, { room: 'lobby', kind: 'reset', items: [] });
    assert.deepEqual(state.me, { id: '3', name: null });
    assert.deepEqual(state.compose('x'), { action: 'message', room: 'lobby', message: 'x' });
    // A welcome that comes after the timeout (a slow hibiki) brings the rooms back as well.
    state.endSession();
    state.startSession();
    state.helloTimedOut();
    assert.equal(state.view, BASIC);
    assert.equal(state.handle({ type: 'welcome', id: '4', name: null, room: 'lobby' }).mode, true);
    assert.equal(state.view, HIBIKI);
  });

  test('hibiki refusing the hello\'s fields stays a notice, as before the basic mode', () => {
    const state = new ChatState();
    state.startSession();
    const change = state.handle({ type: 'error', error: 'invalid_name', action: 'hello', detail: 'bad' });
    assert.equal(change.mode, false);
    assert.equal(change.notice.text, 'Names are 1–24 characters without spaces, and not only digits.');
    assert.equal(state.view, HIBIKI);
  });
});
