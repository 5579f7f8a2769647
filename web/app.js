// hibiki chat page: one WebSocket to the server that served this page, reconnecting with
// exponential backoff (at once after 1012, a server restart) and resuming every room where it
// left off — or, against a server that speaks only the talk's JSON, one conversation in basic
// mode. chat-core.js keeps the state and decides the mode; this file draws it. Everything shown
// to the user goes through textContent.

import {
  BASIC, BASIC_ROOM, ChatState, HELLO_TIMEOUT_MS, LOBBY, MAX_ITEMS_PER_ROOM, codePoints,
  displayName, hueFor, initials, reconnectDelay, socketUrl,
} from './chat-core.js';

const MAX_LOG_ENTRIES = 300;
const LOG_PREVIEW_CHARS = 240;
const STICKY_SCROLL_PX = 80;
const GROUP_GAP_MS = 5 * 60 * 1000; // a sender's messages closer than this share one header
const TOAST_MS = 6000;
const RENAME_RETRY_MS = 1500;
const STORE = { rooms: 'hibiki.rooms', room: 'hibiki.room', name: 'hibiki.name', sent: 'hibiki.sent' };
const BASIC_NOTE = 'basic server: rooms and names unavailable';

let state;
let el = {};
const conn = {
  ws: null,
  attempt: 0,
  retryTimer: null,
  countdownTimer: null,
  renameTimer: null,
  helloTimer: null,
  logCount: 0,
  toastTimer: null,
};

function boot() {
  el = Object.fromEntries([
    'app', 'sidebar', 'scrim', 'menu', 'menu-badge', 'close-drawer', 'my-avatar', 'my-name', 'my-id',
    'edit-name', 'nick-form', 'nick-input', 'rooms', 'join-form', 'join-input', 'members',
    'member-count', 'room-name', 'room-meta', 'status', 'status-detail', 'retry', 'chat',
    'load-older', 'empty', 'messages', 'toast', 'composer', 'input', 'send', 'char-count', 'log',
    'log-count', 'basic-note', 'members-panel', 'room-title',
  ].map((id) => [id.replace(/-(\w)/g, (_, c) => c.toUpperCase()), document.getElementById(id)]));

  state = new ChatState({
    rooms: load(STORE.rooms, [LOBBY]),
    current: load(STORE.room, LOBBY),
    name: load(STORE.name, ''),
    sent: load(STORE.sent, []),
  });

  el.composer.addEventListener('submit', (ev) => {
    ev.preventDefault();
    sendMessage();
  });
  el.input.addEventListener('keydown', (ev) => {
    // Enter sends; Shift+Enter adds a line; never interrupt an IME composition.
    if (ev.key !== 'Enter' || ev.shiftKey || ev.isComposing) return;
    ev.preventDefault();
    sendMessage();
  });
  el.input.addEventListener('input', () => {
    autosize();
    updateComposer();
  });
  el.retry.addEventListener('click', () => connect());
  el.menu.addEventListener('click', () => setDrawer(true));
  el.closeDrawer.addEventListener('click', () => setDrawer(false));
  el.scrim.addEventListener('click', () => setDrawer(false));
  document.addEventListener('keydown', (ev) => {
    if (ev.key === 'Escape') setDrawer(false);
  });
  el.editName.addEventListener('click', () => {
    el.nickForm.hidden = !el.nickForm.hidden;
    if (!el.nickForm.hidden) {
      el.nickInput.value = state.myName ?? state.desiredName;
      el.nickInput.focus();
      el.nickInput.select();
    }
  });
  el.nickForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const result = state.setName(el.nickInput.value.trim());
    if (result.error) return toast(result.error);
    save(STORE.name, state.desiredName);
    send(result.frame);
    el.nickForm.hidden = true;
  });
  el.joinForm.addEventListener('submit', (ev) => {
    ev.preventDefault();
    const result = state.addRoom(el.joinInput.value);
    if (result.error) return toast(result.error);
    el.joinInput.value = '';
    send(result.frame);
    saveRooms();
    renderAll();
    setDrawer(false);
  });
  el.rooms.addEventListener('click', onRoomListClick);
  el.loadOlder.addEventListener('click', () => {
    const frame = state.loadOlder();
    if (frame) send(frame);
    el.loadOlder.disabled = true;
  });
  window.addEventListener('online', () => {
    logLine('event', 'browser is online');
    if (!conn.ws) connect();
  });
  window.addEventListener('offline', () => logLine('event', 'browser is offline'));
  window.addEventListener('pagehide', () => conn.ws?.close(1001, 'page closed'));

  renderMode();
  renderAll();
  connect();
}

// --- connection -------------------------------------------------------------------------

function connect() {
  clearRetryTimers();
  if (conn.ws) return;
  setStatus(conn.attempt === 0 ? 'connecting' : 'reconnecting', '');
  const url = socketUrl();
  logLine('event', `connecting to ${url}`);
  let ws;
  try {
    ws = new WebSocket(url);
  } catch (err) {
    logLine('error', `cannot open socket: ${err.message}`);
    scheduleReconnect();
    return;
  }
  conn.ws = ws;
  ws.addEventListener('open', () => onOpen(ws));
  ws.addEventListener('message', (ev) => {
    if (conn.ws === ws) onFrame(ev.data);
  });
  ws.addEventListener('error', () => logLine('error', 'socket error'));
  ws.addEventListener('close', (ev) => onClose(ws, ev));
}

function onOpen(ws) {
  if (conn.ws !== ws) return;
  conn.attempt = 0; // a successful open resets the backoff
  logLine('event', 'open');
  setStatus('online', '');
  // hello (with our name and where the lobby left off), then every other room with `since`:
  // the server answers each with exactly what was missed.
  for (const frame of state.startSession()) send(frame);
  // A server that only speaks the talk's JSON may never answer the hello.
  clearTimeout(conn.helloTimer);
  conn.helloTimer = setTimeout(() => {
    if (conn.ws !== ws) return;
    const change = state.helloTimedOut();
    if (!change) return;
    logLine('event', `no welcome within ${HELLO_TIMEOUT_MS / 1000} s: basic mode`);
    apply(change);
  }, HELLO_TIMEOUT_MS);
}

function onClose(ws, ev) {
  if (conn.ws !== ws) return;
  conn.ws = null;
  clearTimeout(conn.renameTimer);
  clearTimeout(conn.helloTimer);
  const reason = ev.reason ? ` "${ev.reason}"` : '';
  logLine('event', `closed: code ${ev.code}${reason}${ev.wasClean ? '' : ' (not clean)'}`);
  apply(state.endSession());
  scheduleReconnect(ev.code);
}

// `code`: the close code that ended the last connection (1012: the server restarts, reconnect
// at once).
function scheduleReconnect(code) {
  clearRetryTimers();
  if (!navigator.onLine) {
    // The 'online' listener reconnects as soon as the browser has a network again.
    setStatus('offline', 'waiting for the network');
    return;
  }
  const delay = reconnectDelay(code, conn.attempt);
  conn.attempt += 1;
  const due = Date.now() + delay;
  logLine('event', `reconnecting in ${(delay / 1000).toFixed(1)} s (attempt ${conn.attempt})`);
  const tick = () => {
    const left = Math.max(0, Math.ceil((due - Date.now()) / 1000));
    setStatus('reconnecting', `retry in ${left} s`);
  };
  tick();
  conn.countdownTimer = setInterval(tick, 1000);
  conn.retryTimer = setTimeout(connect, delay);
}

function clearRetryTimers() {
  clearTimeout(conn.retryTimer);
  clearInterval(conn.countdownTimer);
  conn.retryTimer = null;
  conn.countdownTimer = null;
}

function isOnline() {
  return conn.ws !== null && conn.ws.readyState === WebSocket.OPEN;
}

function send(frame) {
  if (!isOnline()) return false; // rooms and names are sent again on the next hello
  const text = JSON.stringify(frame);
  conn.ws.send(text);
  logLine('out', text);
  return true;
}

// --- frames -----------------------------------------------------------------------------

function onFrame(data) {
  if (typeof data !== 'string') {
    logLine('in', '[binary frame]');
    return;
  }
  logLine('in', data);
  let frame;
  try {
    frame = JSON.parse(data);
  } catch {
    logLine('error', 'frame is not JSON; ignored');
    return;
  }
  if (frame?.type === 'welcome' && state.desiredName && frame.name !== state.desiredName) {
    // Our name may still belong to this page's previous connection (a reload): try again once
    // the server has seen that one go.
    clearTimeout(conn.renameTimer);
    conn.renameTimer = setTimeout(() => {
      if (state.myName !== state.desiredName) send({ action: 'nick', name: state.desiredName });
    }, RENAME_RETRY_MS);
  }
  const change = state.handle(frame);
  if (change.mode) logLine('event', state.view === BASIC ? 'the server does not know hello: basic mode'
    : 'the server knows hello: rooms and names');
  apply(change);
}

function apply(change) {
  if (change.reclaim) send(change.reclaim);
  if (change.mode) renderMode();
  if (change.identity) renderIdentity();
  if (change.rooms) {
    renderRooms();
    saveRooms();
  }
  if (change.members) renderMembers();
  if (change.timeline) renderTimeline(change.timeline);
  if (change.notice) {
    toast(change.notice.text);
    // A refused message goes back into an empty input so it is not lost.
    if (change.notice.frame.action === 'message' && !el.input.value && state.lastSentText) {
      el.input.value = state.lastSentText;
      autosize();
      updateComposer();
    }
  }
  save(STORE.sent, state.sentKeys());
}

function sendMessage() {
  if (!isOnline() || tooLong()) return;
  const frame = state.compose(el.input.value);
  if (!frame) return;
  send(frame);
  el.input.value = '';
  autosize();
  updateComposer();
  el.input.focus();
}

function onRoomListClick(ev) {
  const leave = ev.target.closest('[data-leave]');
  if (leave) {
    const frame = state.leaveRoom(leave.dataset.leave);
    if (frame) send(frame);
    saveRooms();
    renderAll();
    return;
  }
  const item = ev.target.closest('[data-room]');
  if (item && state.switchRoom(item.dataset.room)) {
    saveRooms();
    renderAll();
    setDrawer(false);
    el.input.focus({ preventScroll: true });
  }
}

// --- rendering --------------------------------------------------------------------------

function renderAll() {
  renderIdentity();
  renderRooms();
  renderMembers();
  renderTimeline({ room: state.viewKey, kind: 'reset' });
}

/** Rooms, names and who is online exist only on a hibiki server; basic mode says so. */
function renderMode() {
  const basic = state.view === BASIC;
  el.app.dataset.mode = state.view;
  el.basicNote.hidden = !basic;
  el.rooms.hidden = basic;
  el.joinForm.hidden = basic;
  el.membersPanel.hidden = basic;
  el.roomTitle.querySelector('.hash').hidden = basic;
  if (basic) el.nickForm.hidden = true;
  el.editName.disabled = basic;
  el.editName.title = basic ? 'Names are unavailable on this server' : 'Change your name';
}

function setStatus(name, detail) {
  el.status.textContent = name;
  el.status.dataset.state = name;
  el.statusDetail.textContent = detail;
  el.retry.hidden = name !== 'reconnecting' && name !== 'offline';
  document.body.dataset.connection = name;
  updateComposer();
}

function renderIdentity() {
  if (state.view === BASIC) {
    // A basic server never tells a client its id.
    el.myName.textContent = 'You';
    el.myId.textContent = 'id not known';
    el.myId.dataset.id = '';
    el.myAvatar.textContent = '·';
    el.myAvatar.style.setProperty('--hue', '220');
    return;
  }
  const me = state.me;
  el.myName.textContent = me ? displayName(me) : (state.desiredName || '…');
  el.myId.textContent = me ? `id ${me.id}` : 'offline';
  el.myId.dataset.id = me?.id ?? '';
  el.myAvatar.textContent = me ? initials(me) : '·';
  el.myAvatar.style.setProperty('--hue', String(hueFor(me?.name ?? me?.id ?? '0')));
}

function renderRooms() {
  const items = [];
  for (const room of state.rooms.values()) {
    const li = document.createElement('li');
    li.className = 'room';
    li.dataset.room = room.name;
    li.dataset.joined = String(room.joined);
    if (room.name === state.current) li.setAttribute('aria-current', 'true');
    const button = document.createElement('button');
    button.type = 'button';
    button.className = 'room-button';
    button.append(textEl('span', 'hash', '#'), textEl('span', 'room-label', room.name));
    const badge = textEl('span', 'badge unread', room.unread > 99 ? '99+' : String(room.unread));
    badge.hidden = room.unread === 0;
    badge.setAttribute('aria-label', `${room.unread} unread`);
    button.append(badge);
    const leave = document.createElement('button');
    leave.type = 'button';
    leave.className = 'leave';
    leave.dataset.leave = room.name;
    leave.setAttribute('aria-label', `Leave #${room.name}`);
    leave.title = `Leave #${room.name}`;
    leave.textContent = '×';
    li.append(button, leave);
    items.push(li);
  }
  el.rooms.replaceChildren(...items);
  const total = state.totalUnread();
  el.menuBadge.hidden = total === 0;
  el.menuBadge.textContent = total > 99 ? '99+' : String(total);
  document.title = total ? `(${total}) hibiki chat` : 'hibiki chat';
}

function renderMembers() {
  if (state.view === BASIC) {
    el.members.replaceChildren();
    el.memberCount.textContent = '–';
    el.roomMeta.textContent = BASIC_NOTE;
    return;
  }
  const room = state.rooms.get(state.current);
  const members = room ? [...room.members.values()] : [];
  members.sort((a, b) => (a.id === state.myId ? -1 : b.id === state.myId ? 1 : 0) ||
    displayName(a).localeCompare(displayName(b)));
  el.members.replaceChildren(...members.map((m) => {
    const li = document.createElement('li');
    li.className = 'member';
    li.dataset.id = m.id;
    const avatar = textEl('span', 'avatar', initials(m));
    avatar.style.setProperty('--hue', String(hueFor(m.name ?? m.id)));
    avatar.setAttribute('aria-hidden', 'true');
    li.append(avatar, textEl('span', 'member-name', displayName(m)));
    if (m.id === state.myId) li.append(textEl('span', 'you', 'you'));
    return li;
  }));
  el.memberCount.textContent = String(members.length);
  el.roomMeta.textContent = room?.joined ? `${members.length} online` : '';
}

function renderTimeline({ room: name, kind, items = [] }) {
  if (name !== state.viewKey) return;
  const basic = state.view === BASIC;
  const room = state.viewRoom;
  el.roomName.textContent = basic ? 'everyone' : room ? room.name : '—';
  el.input.placeholder = basic ? 'Message everyone' : room ? `Message #${room.name}` : 'Join a room to talk';
  const nearBottom = el.chat.scrollHeight - el.chat.scrollTop - el.chat.clientHeight < STICKY_SCROLL_PX;
  if (kind === 'update') {
    for (const item of items) {
      const node = el.messages.querySelector(`[data-key="${item.key}"]`);
      if (node) node.textContent = item.text;
    }
    return;
  }
  if (kind === 'prepend') {
    // Keep what the reader looks at in place while older messages appear above it.
    const fromBottom = el.chat.scrollHeight - el.chat.scrollTop;
    renderList(room);
    el.chat.scrollTop = el.chat.scrollHeight - fromBottom;
  } else if (kind === 'append' && el.messages.childElementCount > 0 &&
             el.messages.childElementCount < MAX_ITEMS_PER_ROOM + 100) {
    for (const item of items) el.messages.append(...itemNodes(item, previousOf(room, item)));
  } else {
    // First paint, a reset, or the room dropped its oldest items: draw it whole.
    renderList(room);
  }
  const mineAdded = items.some((i) => i.mine);
  if (kind === 'reset' || nearBottom || mineAdded) el.chat.scrollTop = el.chat.scrollHeight;
  el.empty.hidden = (room?.items.length ?? 0) > 0;
  el.empty.querySelector('.empty-hint').textContent = basic
    ? 'Say hello — everyone connected will see it.'
    : room ? 'Say hello — everyone in this room will see it.'
      : 'Join a room from the menu to start talking.';
  el.loadOlder.hidden = !room || state.oldestId(room.name) <= 1;
  el.loadOlder.disabled = Boolean(room?.loadingOlder);
  updateComposer();
}

function renderList(room) {
  const nodes = [];
  let previous = null;
  for (const item of room?.items ?? []) {
    nodes.push(...itemNodes(item, previous));
    previous = item;
  }
  el.messages.replaceChildren(...nodes);
}

function previousOf(room, item) {
  const i = room.items.indexOf(item);
  return i > 0 ? room.items[i - 1] : null;
}

/** The nodes for one timeline item: a day divider when the day changes, then the item. */
function itemNodes(item, previous) {
  const nodes = [];
  if (!previous || dayKey(previous.ts) !== dayKey(item.ts)) {
    nodes.push(textEl('li', 'day', dayLabel(item.ts)));
  }
  if (item.kind === 'note') {
    const note = textEl('li', 'msg note', item.text);
    note.dataset.key = String(item.key);
    nodes.push(note);
    return nodes;
  }
  const sender = item.from;
  const li = document.createElement('li');
  li.className = `msg ${item.mine ? 'mine' : 'theirs'}`;
  li.dataset.key = String(item.key);
  if (item.id !== null) li.dataset.id = String(item.id); // basic mode's messages have no id
  li.dataset.sender = sender.id;
  li.style.setProperty('--hue', String(hueFor(sender.name ?? sender.id)));
  // A run of messages from one sender shows the name and avatar only once.
  const continues = previous?.kind === 'message' && previous.from.id === sender.id &&
    previous.from.name === sender.name && item.ts - previous.ts < GROUP_GAP_MS &&
    dayKey(previous.ts) === dayKey(item.ts);
  if (continues) li.classList.add('cont');
  if (!item.mine) {
    const avatar = textEl('span', 'avatar', initials(sender));
    avatar.setAttribute('aria-hidden', 'true');
    li.append(avatar);
  }
  const column = document.createElement('div');
  column.className = 'col';
  const meta = document.createElement('div');
  meta.className = 'meta';
  // In basic mode "mine" is only a guess (chat-core.js), so the sender keeps the server's label.
  const label = item.mine && item.room !== BASIC_ROOM ? 'You' : displayName(sender);
  meta.append(textEl('span', 'sender', label), timeEl(item.ts));
  const bubble = textEl('div', 'bubble', item.text);
  bubble.title = new Date(item.ts).toLocaleString();
  column.append(meta, bubble);
  li.append(column);
  nodes.push(li);
  return nodes;
}

function updateComposer() {
  const room = state?.viewRoom;
  const count = codePoints(el.input.value);
  const max = state?.limits?.text ?? 4000;
  el.charCount.textContent = count > max * 0.8 ? `${count} / ${max}` : '';
  el.charCount.classList.toggle('over', count > max);
  el.send.disabled = !isOnline() || !room || !el.input.value.trim() || count > max;
}

function tooLong() {
  return codePoints(el.input.value) > (state.limits?.text ?? 4000);
}

function setDrawer(open) {
  el.app.dataset.drawer = open ? 'open' : 'closed';
  el.scrim.hidden = !open;
  el.menu.setAttribute('aria-expanded', String(open));
}

function toast(text) {
  el.toast.textContent = text;
  el.toast.hidden = false;
  clearTimeout(conn.toastTimer);
  conn.toastTimer = setTimeout(() => { el.toast.hidden = true; }, TOAST_MS);
}

function textEl(tag, className, text) {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = text;
  return node;
}

function timeEl(ts) {
  const date = new Date(ts);
  const node = textEl('time', 'time', date.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
  node.dateTime = date.toISOString();
  return node;
}

function dayKey(ts) {
  const d = new Date(ts);
  return `${d.getFullYear()}-${d.getMonth()}-${d.getDate()}`;
}

function dayLabel(ts) {
  const today = new Date();
  const yesterday = new Date(today.getFullYear(), today.getMonth(), today.getDate() - 1);
  if (dayKey(ts) === dayKey(today.getTime())) return 'Today';
  if (dayKey(ts) === dayKey(yesterday.getTime())) return 'Yesterday';
  return new Date(ts).toLocaleDateString([], { weekday: 'short', month: 'short', day: 'numeric' });
}

function autosize() {
  el.input.style.height = 'auto';
  el.input.style.height = `${Math.min(el.input.scrollHeight, 160)}px`;
}

// --- storage ----------------------------------------------------------------------------

function load(key, fallback) {
  try {
    const value = JSON.parse(localStorage.getItem(key));
    return value ?? fallback;
  } catch {
    return fallback;
  }
}

function save(key, value) {
  try {
    localStorage.setItem(key, JSON.stringify(value));
  } catch {
    // Private mode or a full quota: the page works without remembering.
  }
}

function saveRooms() {
  save(STORE.rooms, [...state.rooms.keys()]);
  save(STORE.room, state.current);
}

// --- debug log --------------------------------------------------------------------------

const LOG_MARK = { in: '←', out: '→', event: '•', error: '!' };

function logLine(kind, text) {
  const preview = text.length > LOG_PREVIEW_CHARS
    ? `${text.slice(0, LOG_PREVIEW_CHARS)}… (+${text.length - LOG_PREVIEW_CHARS} chars)`
    : text;
  const item = document.createElement('li');
  item.className = `log-${kind}`;
  const stamp = new Date().toISOString().slice(11, 23);
  item.append(textEl('time', 'log-time', stamp), textEl('span', 'log-mark', LOG_MARK[kind]),
    textEl('span', 'log-text', preview));
  el.log.append(item);
  while (el.log.childElementCount > MAX_LOG_ENTRIES) el.log.firstElementChild.remove();
  conn.logCount += 1;
  el.logCount.textContent = String(conn.logCount);
  el.log.scrollTop = el.log.scrollHeight;
}

if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
else boot();
