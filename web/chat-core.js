// hibiki chat page: the protocol state without a DOM — rooms, members, timelines, resume after
// reconnect (docs/CHAT-PROTOCOL.md), and a basic mode for servers that speak only the talk's
// JSON. app.js renders what this module decides; Node can import it to test it.

export const LOBBY = 'lobby';
export const MAX_ITEMS_PER_ROOM = 500;
/** How long the page waits for `welcome` after its hello before it assumes a basic server. */
export const HELLO_TIMEOUT_MS = 1500;
/** What the page shows: hibiki's rooms, or the one conversation of a basic server. */
export const HIBIKI = 'hibiki';
export const BASIC = 'basic';
/** The timeline key of basic mode's conversation; never a valid room name, so never a room. */
export const BASIC_ROOM = '*basic';
const RECONNECT_BASE_MS = 1000;
const RECONNECT_MAX_MS = 30_000;
const RECONNECT_JITTER = 0.2; // ± fraction, so a room of clients doesn't reconnect in lockstep
const MAX_SENT_KEYS = 400;
const MAX_UNECHOED = 50;
const JOIN_NICK_MERGE_MS = 5000;
const BODY_RE = /^Client (\S+): ([\s\S]*)$/;
const ROOM_RE = /^[a-z0-9][a-z0-9_-]{0,31}$/;
// Mirrors the server's rule closely enough to catch typos; the server has the last word.
const NAME_FORBIDDEN_RE = /[\s\u0000-\u001f\u007f-\u00a0\u00ad\u180e\u200b-\u200f\u202a-\u202e\u2060-\u206f\ufeff]/u;
const NAME_ASCII_RE = /^[A-Za-z0-9._-]$/;

/** Delay before reconnect attempt number `attempt` (0-based): 1 s, 2 s, 4 s … 30 s, ±20 %. */
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** attempt);
  const jittered = base * (1 - RECONNECT_JITTER + 2 * RECONNECT_JITTER * random());
  return Math.round(Math.min(RECONNECT_MAX_MS, jittered));
}

/** Close code of a server that restarts: its successor already listens (docs/CHAT-PROTOCOL.md). */
export const SERVICE_RESTART = 1012;

/**
 * Delay before reconnecting after a close with `code`, when `attempt` reconnects failed since
 * the last open: none after 1012 (a successor takes the connection and resume fills the gap),
 * else backoffDelay(attempt).
 */
export function reconnectDelay(code, attempt, random = Math.random) {
  if (code === SERVICE_RESTART && attempt === 0) return 0;
  return backoffDelay(attempt, random);
}

/** Stable hue for a sender. Numeric ids step by the golden angle so neighbours differ. */
export function hueFor(key) {
  if (/^\d+$/.test(key)) return Math.round((Number(key) * 137.508) % 360);
  let h = 2166136261; // FNV-1a
  for (const ch of key) {
    h ^= ch.codePointAt(0);
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0) % 360;
}

/** Splits a talk-style body into { sender, text }; sender is null for other shapes. */
export function parseBody(body) {
  const m = BODY_RE.exec(body);
  return m ? { sender: m[1], text: m[2] } : { sender: null, text: body };
}

/**
 * What a frame that arrives before `welcome` says about the server:
 * - HIBIKI: `welcome` — it knows hello;
 * - BASIC: it refused hello — an API Gateway-style `{"message":"Forbidden","connectionId":…}`
 *   (no `type`), or an `error` that does not come from hibiki (hibiki's answers to a refused
 *   hello name the action `hello`, and it says `hello_required` to the frames after one);
 * - 'talk': a talk-shaped message (`body`, no `room`). It proves nothing on its own: hibiki sends
 *   that shape too, to a connection whose hello it has not read yet (docs/CHAT-PROTOCOL.md);
 * - null: nothing either way.
 */
export function serverHint(frame) {
  if (!frame || typeof frame !== 'object' || Array.isArray(frame)) return null;
  if (frame.type === 'welcome') return HIBIKI;
  if (isGatewayReply(frame)) return BASIC;
  if (frame.type === 'error') {
    return frame.action === 'hello' || frame.error === 'hello_required' ? null : BASIC;
  }
  if (frame.type === 'message' && typeof frame.body === 'string' && frame.room === undefined) return 'talk';
  return null;
}

/** An API Gateway-style reply: `message` and no `type`, e.g. "Forbidden" for an unknown route. */
function isGatewayReply(frame) {
  return frame.type === undefined && typeof frame.message === 'string' &&
    (frame.message === 'Forbidden' || 'connectionId' in frame || 'requestId' in frame);
}

export function socketUrl(loc = globalThis.location) {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/`;
}

export function isValidRoom(name) {
  return ROOM_RE.test(name);
}

export function isValidName(name) {
  const chars = [...name];
  if (chars.length < 1 || chars.length > 24 || /^\d+$/.test(name)) return false;
  return chars.every((ch) => (ch.codePointAt(0) < 0x80 ? NAME_ASCII_RE.test(ch) : !NAME_FORBIDDEN_RE.test(ch)));
}

/** What the page calls a member: its name, or "Client <id>" like the talk's page. */
export function displayName(member) {
  return member?.name ?? `Client ${member?.id ?? '?'}`;
}

/** One or two letters for an avatar. */
export function initials(member) {
  if (!member?.name) return String(member?.id ?? '?').slice(-3);
  const parts = member.name.split(/[-_.]+/).filter(Boolean);
  const letters = parts.length > 1 ? parts[0][0] + parts[1][0] : [...member.name].slice(0, 2).join('');
  return letters.toUpperCase();
}

export function codePoints(text) {
  let n = 0;
  for (const _ of text) n += 1;
  return n;
}

const ERROR_TEXT = {
  invalid_json: 'The server could not read that request.',
  unknown_action: 'The server does not know that request.',
  invalid_message: 'That message was not text.',
  binary_not_supported: 'Binary frames are not supported here.',
  hello_required: 'The server expected a hello first.',
  invalid_room: 'Room names are 1–32 characters: a–z, 0–9, - and _.',
  invalid_name: 'Names are 1–24 characters without spaces, and not only digits.',
  invalid_since: 'The server could not resume that room.',
  invalid_before: 'The server could not load older messages.',
  empty_message: 'That message was empty.',
  not_in_room: 'You are not in that room.',
  no_room: 'Join a room first.',
  store_failed: 'The server could not save that message. Try again.',
};

/** A sentence for an error frame. */
export function describeError(frame) {
  switch (frame.error) {
    case 'rate_limited':
      return `Slow down a little — try again in ${Math.max(1, Math.ceil((frame.retry_ms ?? 1000) / 1000))} s.`;
    case 'message_too_long':
      return `That message is too long (at most ${frame.max} characters).`;
    case 'too_many_rooms':
      return `You can be in at most ${frame.max} rooms. Leave one first.`;
    default:
      return ERROR_TEXT[frame.error] ?? frame.detail ?? `Error: ${frame.error}`;
  }
}

function newRoom(name) {
  return {
    name,
    items: [], // { kind: 'message', key, id, from, text, ts, mine } | { kind: 'note', key, text, ts }
    lastId: 0, // highest message id seen: resume point and duplicate filter
    synced: false, // received its history at least once (so `since` is meaningful)
    joined: false, // the server confirmed it on this connection
    unread: 0,
    members: new Map(), // id -> { id, name }
    resetPending: false, // a history_gap arrived: the next history replaces the timeline
    loadingOlder: false,
  };
}

/**
 * The page's view of the chat. Every method that changes something returns a change record
 * { mode, rooms, members, identity, timeline, notice } telling the renderer what to redo:
 * mode says `view` changed (hibiki ⇄ basic); timeline is
 * { room, kind: 'append'|'prepend'|'reset'|'update', items } or null, room being a room name
 * or BASIC_ROOM.
 *
 * Basic mode: a server that speaks only the talk's JSON answers hello with an API
 * Gateway-style "Forbidden" or an `error`, or not at all. After such an answer, or
 * HELLO_TIMEOUT_MS without a welcome (app.js keeps the clock), this connection is in basic
 * mode: one conversation, the talk's frames both ways, no rooms, names or history. Every new
 * connection says hello again, and a welcome (even a late one) brings the rooms back.
 */
export class ChatState {
  constructor({ rooms = [LOBBY], current, name = '', sent = [] } = {}) {
    const names = rooms.filter(isValidRoom);
    if (names.length === 0) names.push(LOBBY);
    this.rooms = new Map(names.map((r) => [r, newRoom(r)]));
    this.current = current && this.rooms.has(current) ? current : names[0];
    this.desiredName = name && isValidName(name) ? name : '';
    this.myId = null;
    this.myName = null;
    this.limits = null;
    this.sent = new Set(sent); // keys of messages this browser sent (survive reconnects)
    this.lastSentText = '';
    this.nextKey = 1;
    // What this connection's server speaks: 'closed', 'pending' (hello sent, no answer yet),
    // HIBIKI or BASIC. `view` is what the page shows: the last mode decided, so a reconnect
    // to the same basic server does not flash the room list while it waits again.
    this.mode = 'closed';
    this.view = HIBIKI;
    this.basic = newRoom(BASIC_ROOM); // basic mode's one conversation (kept across reconnects)
    this.held = []; // talk-shaped frames that came while the mode was unknown
    this.unechoed = []; // texts sent that a basic server has not echoed yet, oldest first
  }

  // --- connection ------------------------------------------------------------------------

  /** Frames to send right after the socket opens: hello, then resume every room. */
  startSession() {
    this.myId = null;
    this.mode = 'pending';
    this.held = [];
    this.unechoed = [];
    for (const room of this.rooms.values()) {
      room.joined = false;
      room.loadingOlder = false;
    }
    const lobby = this.rooms.get(LOBBY);
    const frames = [{ action: 'hello', name: this.desiredName || undefined,
      since: lobby?.synced ? lobby.lastId : undefined }];
    for (const room of this.rooms.values()) {
      if (room.name !== LOBBY) frames.push(this.#joinFrame(room));
    }
    // Every connection starts in the lobby; leave it if this page does not show it.
    if (!lobby) frames.push({ action: 'leave', room: LOBBY });
    return frames;
  }

  endSession() {
    this.myId = null;
    this.mode = 'closed';
    this.held = [];
    this.unechoed = [];
    for (const room of this.rooms.values()) {
      room.joined = false;
      room.members.clear();
    }
    return this.#change({ identity: true, members: true, rooms: true });
  }

  /**
   * No welcome came within HELLO_TIMEOUT_MS of the hello: a server that ignores what it does
   * not know. Switches to basic mode, or returns null when the mode is already decided.
   */
  helloTimedOut() {
    return this.mode === 'pending' ? this.#enterBasic() : null;
  }

  /** Applies one server frame. Unknown or foreign frames change nothing. */
  handle(frame) {
    if (this.mode === BASIC) return this.#handleBasic(frame);
    if (this.mode !== HIBIKI) {
      const hint = serverHint(frame);
      if (hint === BASIC) return this.#enterBasic();
      if (hint === 'talk') return this.#holdTalk(frame);
    }
    switch (frame?.type) {
      case 'welcome':
        return this.#onWelcome(frame);
      case 'nick':
        this.myName = frame.name ?? null;
        return this.#change({ identity: true, members: true });
      case 'joined':
        return this.#onJoined(frame);
      case 'history':
        return this.#onHistory(frame);
      case 'message':
        return this.#onMessage(frame);
      case 'presence':
        return this.#onPresence(frame);
      case 'left':
        return this.#change({});
      case 'error':
        return this.#onError(frame);
      default:
        return this.#change({});
    }
  }

  // --- user actions ----------------------------------------------------------------------

  /** Frame to send for `text` in the current room, or null when there is nothing to send. */
  compose(text) {
    if (!text.trim()) return null;
    if (this.view === BASIC) {
      // The talk's frame, exactly: a basic server may know no other key.
      this.lastSentText = text;
      this.#expectEcho(text);
      return { action: 'message', message: text };
    }
    if (!this.rooms.has(this.current)) return null;
    this.lastSentText = text;
    // Still waiting for the welcome: the server may turn out to be basic and echo it as talk.
    if (this.mode !== HIBIKI) this.#expectEcho(text);
    return { action: 'message', room: this.current, message: text };
  }

  /** Adds a room and returns its join frame (or { error } when the name is not valid). */
  addRoom(name) {
    const room = name.trim().toLowerCase().replace(/^#/, '');
    if (!isValidRoom(room)) return { error: ERROR_TEXT.invalid_room };
    if (!this.rooms.has(room)) this.rooms.set(room, newRoom(room));
    this.current = room;
    this.rooms.get(room).unread = 0;
    return { frame: this.#joinFrame(this.rooms.get(room)) };
  }

  /** Drops a room and returns the leave frame. */
  leaveRoom(name) {
    if (!this.rooms.has(name)) return null;
    this.rooms.delete(name);
    if (this.current === name) this.current = this.rooms.keys().next().value ?? null;
    return { action: 'leave', room: name };
  }

  switchRoom(name) {
    if (!this.rooms.has(name)) return false;
    this.current = name;
    this.rooms.get(name).unread = 0;
    return true;
  }

  /** Frame asking for the messages before the oldest one shown, or null if there are none. */
  loadOlder() {
    const room = this.view === HIBIKI ? this.rooms.get(this.current) : null;
    const oldest = room ? this.oldestId(room.name) : 0;
    if (!room || !room.joined || room.loadingOlder || oldest <= 1) return null;
    room.loadingOlder = true;
    return { action: 'history', room: room.name, before: oldest };
  }

  setName(name) {
    if (!isValidName(name)) return { error: ERROR_TEXT.invalid_name };
    this.desiredName = name;
    return { frame: { action: 'nick', name } };
  }

  // --- queries ---------------------------------------------------------------------------

  get me() {
    return this.myId === null ? null : { id: this.myId, name: this.myName };
  }

  /** The key and the room object of the timeline on screen: a room, or basic mode's one. */
  get viewKey() {
    return this.view === BASIC ? BASIC_ROOM : this.current;
  }

  get viewRoom() {
    return this.view === BASIC ? this.basic : this.rooms.get(this.current);
  }

  oldestId(roomName) {
    const room = this.rooms.get(roomName);
    const first = room?.items.find((item) => item.kind === 'message');
    return first ? first.id : 0;
  }

  totalUnread() {
    let n = 0;
    for (const room of this.rooms.values()) n += room.unread;
    return n;
  }

  sentKeys() {
    return [...this.sent].slice(-MAX_SENT_KEYS);
  }

  // --- frames ----------------------------------------------------------------------------

  #onWelcome(frame) {
    const fromBasic = this.view === BASIC;
    this.mode = HIBIKI;
    this.view = HIBIKI;
    // Held talk frames were sent before the server read our hello; the lobby history that
    // follows carries them properly.
    this.held = [];
    this.unechoed = [];
    this.myId = String(frame.id);
    this.myName = frame.name ?? null;
    this.limits = frame.limits ?? null;
    if (!fromBasic) return this.#change({ identity: true });
    // The server learned hello since the last connection: back to the rooms.
    return this.#change({ mode: true, identity: true, rooms: true, members: true,
      timeline: { room: this.current, kind: 'reset', items: [] } });
  }

  // --- basic mode ------------------------------------------------------------------------

  #holdTalk(frame) {
    this.held.push(frame);
    if (this.held.length > MAX_ITEMS_PER_ROOM) this.held.shift();
    // Our own text came back and still no welcome: hibiki reads a connection's frames in
    // order and would have answered the hello before echoing a message sent after it.
    if (this.unechoed.includes(parseBody(frame.body).text)) return this.#enterBasic();
    return this.#change({});
  }

  #enterBasic() {
    const wasBasic = this.view === BASIC;
    this.mode = BASIC;
    this.view = BASIC;
    this.myId = null;
    this.myName = null;
    this.limits = null;
    const items = this.held.map((frame) => this.#basicItem(frame));
    this.held = [];
    this.basic.items.push(...items);
    this.#trim(this.basic);
    return this.#change({ mode: !wasBasic, identity: true, members: true, rooms: !wasBasic,
      timeline: { room: BASIC_ROOM, kind: wasBasic ? 'append' : 'reset', items } });
  }

  #handleBasic(frame) {
    if (frame?.type === 'welcome') return this.#onWelcome(frame);
    if (frame?.type === 'message' && typeof frame.body === 'string') {
      const item = this.#basicItem(frame);
      this.basic.items.push(item);
      this.#trim(this.basic);
      return this.#change({ timeline: { room: BASIC_ROOM, kind: 'append', items: [item] } });
    }
    // The answers to the hello and joins every connection starts with are expected; other
    // errors are worth a notice.
    if (frame?.type === 'error' && frame.error !== 'unknown_action' && frame.error !== 'hello_required') {
      return this.#change({ notice: { frame, text: describeError(frame) } });
    }
    if (frame && typeof frame === 'object' && isGatewayReply(frame) && frame.message !== 'Forbidden') {
      return this.#change({ notice: { frame, text: `The server says: ${frame.message}` } });
    }
    return this.#change({});
  }

  /** A timeline item for the talk's `{"type":"message","body":"Client <id>: <text>"}`. */
  #basicItem(frame) {
    const { sender, text } = parseBody(frame.body);
    if (sender === null) return this.#note(frame.body); // not the talk's shape: show it plainly
    return { kind: 'message', key: this.nextKey++, id: null, room: BASIC_ROOM,
      from: { id: sender, name: null }, text, ts: Date.now(), mine: this.#takeEcho(text) };
  }

  // A basic server never says who we are, so "mine" is a guess: a received text that equals
  // one we sent and have not yet seen come back is our echo. The server echoes one
  // connection's messages in the order they were sent, so the oldest such text matches, and
  // anything we sent before it will not come back any more (refused or lost): it is dropped,
  // so it cannot claim someone else's later message. Two people sending the same text at the
  // same moment can still swap places; nothing on a basic server can tell them apart.
  #expectEcho(text) {
    this.unechoed.push(text);
    if (this.unechoed.length > MAX_UNECHOED) this.unechoed.shift();
  }

  #takeEcho(text) {
    const i = this.unechoed.indexOf(text);
    if (i < 0) return false;
    this.unechoed.splice(0, i + 1);
    return true;
  }

  #joinFrame(room) {
    return { action: 'join', room: room.name, since: room.synced ? room.lastId : undefined };
  }

  #onJoined(frame) {
    const room = this.rooms.get(frame.room);
    if (!room) return this.#change({});
    room.joined = true;
    room.members = new Map((frame.members ?? []).map((m) => [String(m.id), { id: String(m.id), name: m.name ?? null }]));
    return this.#change({ rooms: true, members: frame.room === this.current });
  }

  #onHistory(frame) {
    const room = this.rooms.get(frame.room);
    if (!room || !Array.isArray(frame.messages)) return this.#change({});
    if (frame.before) {
      // Older messages, asked for by "load older": put them in front of what we show.
      room.loadingOlder = false;
      const oldest = this.oldestId(room.name) || Infinity;
      const items = frame.messages.filter((m) => m.id < oldest).map((m) => this.#messageItem(room, m));
      room.items.unshift(...items);
      return this.#change({ rooms: true, timeline: { room: room.name, kind: 'prepend', items } });
    }
    const wasSynced = room.synced;
    let kind = 'append';
    if (room.resetPending) {
      // Too much was missed (or the server's history is new): start this room afresh.
      room.resetPending = false;
      room.items = [];
      room.lastId = 0;
      kind = 'reset';
    }
    const fresh = frame.messages.filter((m) => m.id > room.lastId);
    const items = fresh.map((m) => this.#messageItem(room, m));
    if (kind === 'reset' && wasSynced) {
      items.unshift(this.#note('Some messages were missed while you were away; showing the latest.'));
    }
    room.items.push(...items);
    for (const m of fresh) room.lastId = Math.max(room.lastId, m.id);
    room.synced = true;
    // Messages that arrive while a room is in the background count as unread; a room's very
    // first history does not.
    if (wasSynced && room.name !== this.current) room.unread += items.filter((i) => i.kind === 'message' && !i.mine).length;
    this.#trim(room);
    return this.#change({ rooms: true, timeline: { room: room.name, kind, items } });
  }

  #onMessage(frame) {
    // The talk's shape (no room, no id) only reaches us before our hello is processed; the
    // history that answers the hello carries the same message properly.
    if (typeof frame.room !== 'string' || !Number.isInteger(frame.id)) return this.#change({});
    const room = this.rooms.get(frame.room);
    if (!room || frame.id <= room.lastId) return this.#change({});
    if (frame.from && String(frame.from.id) === this.myId) {
      this.#remember(sentKey(frame));
      this.lastSentText = '';
    }
    const item = this.#messageItem(room, frame);
    room.items.push(item);
    room.lastId = frame.id;
    if (room.name !== this.current && !item.mine) room.unread += 1;
    this.#trim(room);
    return this.#change({ rooms: room.name !== this.current, timeline: { room: room.name, kind: 'append', items: [item] } });
  }

  #onPresence(frame) {
    const room = this.rooms.get(frame.room);
    if (!room || !frame.member) return this.#change({});
    const member = { id: String(frame.member.id), name: frame.member.name ?? null };
    const isMe = member.id === this.myId;
    if (frame.event === 'leave') {
      room.members.delete(member.id);
    } else {
      room.members.set(member.id, member);
    }
    const change = { members: room.name === this.current, rooms: false };
    if (isMe) return this.#change(change);
    // The name we asked for and did not get (its owner had not left yet: our own previous
    // connection, held by a server that went down) is free now: ask for it again.
    const freed = frame.event === 'leave' ? member.name : frame.event === 'nick' ? frame.previous : null;
    if (freed && this.desiredName && this.myName !== this.desiredName &&
        foldName(freed) === foldName(this.desiredName)) {
      change.reclaim = { action: 'nick', name: this.desiredName };
    }
    if (frame.event === 'nick') {
      // A page that says hello with a name first appears nameless: fix the fresh join note.
      const last = room.items.at(-1);
      if (frame.previous === null && last?.kind === 'note' && last.joinOf === member.id &&
          Date.now() - last.ts < JOIN_NICK_MERGE_MS) {
        last.text = `${displayName(member)} joined`;
        return this.#change({ ...change, timeline: { room: room.name, kind: 'update', items: [last] } });
      }
      const before = displayName({ id: member.id, name: frame.previous ?? null });
      const note = this.#note(`${before} is now ${displayName(member)}`);
      room.items.push(note);
      return this.#change({ ...change, timeline: { room: room.name, kind: 'append', items: [note] } });
    }
    const note = this.#note(`${displayName(member)} ${frame.event === 'join' ? 'joined' : 'left'}`);
    if (frame.event === 'join') note.joinOf = member.id;
    room.items.push(note);
    this.#trim(room);
    return this.#change({ ...change, timeline: { room: room.name, kind: 'append', items: [note] } });
  }

  #onError(frame) {
    if (frame.error === 'history_gap') {
      const room = this.rooms.get(frame.room);
      if (room) room.resetPending = true;
      return this.#change({});
    }
    // A room we asked to join that the server refused: forget it.
    if (frame.action === 'join' && frame.room && this.rooms.has(frame.room) && !this.rooms.get(frame.room).joined) {
      this.rooms.delete(frame.room);
      if (this.current === frame.room) this.current = this.rooms.keys().next().value ?? null;
      return this.#change({ rooms: true, members: true, timeline: { room: this.current, kind: 'reset', items: [] },
        notice: { frame, text: describeError(frame) } });
    }
    if (frame.action === 'history' && frame.room) {
      const room = this.rooms.get(frame.room);
      if (room) room.loadingOlder = false;
    }
    return this.#change({ notice: { frame, text: describeError(frame) } });
  }

  // --- helpers ---------------------------------------------------------------------------

  #messageItem(room, m) {
    const from = { id: String(m.from?.id ?? ''), name: m.from?.name ?? null };
    const mine = from.id === this.myId || this.sent.has(sentKey(m));
    return { kind: 'message', key: this.nextKey++, id: m.id, room: room.name, from,
      text: String(m.text ?? ''), ts: Number(m.ts) || Date.now(), mine };
  }

  #note(text) {
    return { kind: 'note', key: this.nextKey++, text, ts: Date.now() };
  }

  #remember(key) {
    this.sent.add(key);
    if (this.sent.size > MAX_SENT_KEYS) this.sent.delete(this.sent.values().next().value);
  }

  #trim(room) {
    if (room.items.length > MAX_ITEMS_PER_ROOM) room.items.splice(0, room.items.length - MAX_ITEMS_PER_ROOM);
  }

  #change(parts) {
    return { mode: false, rooms: false, members: false, identity: false, timeline: null, notice: null,
      reclaim: null, ...parts };
  }
}

// Names are unique on the server comparing ASCII letters without case.
function foldName(name) {
  return name.replace(/[A-Z]/g, (c) => c.toLowerCase());
}

// Room, id and timestamp: unique even if a throwaway server starts its ids again.
function sentKey(m) {
  return `${m.room}#${m.id}#${m.ts}`;
}
