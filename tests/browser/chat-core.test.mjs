// The page's protocol state (web/chat-core.js) without a browser: resume frames, duplicate
// filtering, history gaps, unread counts, presence and validation.
import assert from 'node:assert/strict';
import { describe, test } from 'node:test';
import {
  ChatState, backoffDelay, displayName, hueFor, isValidName, isValidRoom, parseBody,
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
});
