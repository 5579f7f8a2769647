// hibiki chat page: one WebSocket to the server that served this page, reconnecting with
// exponential backoff. Everything shown to the user goes through textContent.

const RECONNECT_BASE_MS = 1000;
const RECONNECT_MAX_MS = 30_000;
const RECONNECT_JITTER = 0.2; // ± fraction, so a room of clients doesn't reconnect in lockstep
const MAX_MESSAGES = 500;
const MAX_LOG_ENTRIES = 300;
const LOG_PREVIEW_CHARS = 240;
const STICKY_SCROLL_PX = 80;
const BODY_RE = /^Client (\S+): ([\s\S]*)$/;

const ERROR_TEXT = {
  invalid_json: 'The server could not parse that frame as JSON.',
  unknown_action: 'The server did not recognise that action.',
  invalid_message: 'The message field was missing or not text.',
  binary_not_supported: 'Binary frames are not supported here.',
};

/** Delay before reconnect attempt number `attempt` (0-based): 1 s, 2 s, 4 s … 30 s, ±20 %. */
export function backoffDelay(attempt, random = Math.random) {
  const base = Math.min(RECONNECT_MAX_MS, RECONNECT_BASE_MS * 2 ** attempt);
  const jittered = base * (1 - RECONNECT_JITTER + 2 * RECONNECT_JITTER * random());
  return Math.round(Math.min(RECONNECT_MAX_MS, jittered));
}

/** Stable hue for a sender id. Numeric ids step by the golden angle so neighbours differ. */
export function hueFor(id) {
  if (/^\d+$/.test(id)) return Math.round((Number(id) * 137.508) % 360);
  let h = 2166136261; // FNV-1a
  for (const ch of id) {
    h ^= ch.codePointAt(0);
    h = Math.imul(h, 16777619);
  }
  return (h >>> 0) % 360;
}

/** Splits a broadcast body into { sender, text }; sender is null for other shapes. */
export function parseBody(body) {
  const m = BODY_RE.exec(body);
  return m ? { sender: m[1], text: m[2] } : { sender: null, text: body };
}

export function socketUrl(loc = location) {
  return `${loc.protocol === 'https:' ? 'wss' : 'ws'}://${loc.host}/`;
}

// ---------------------------------------------------------------------------------------

const state = {
  ws: null,
  myId: null,
  attempt: 0,
  retryTimer: null,
  countdownTimer: null,
  lastSender: undefined, // groups consecutive messages from one sender
  logCount: 0,
};

let el = {};

function boot() {
  el = {
    status: byId('status'),
    statusDetail: byId('status-detail'),
    retry: byId('retry'),
    myId: byId('my-id'),
    chat: byId('chat'),
    empty: byId('empty'),
    messages: byId('messages'),
    form: byId('composer'),
    input: byId('input'),
    send: byId('send'),
    log: byId('log'),
    logCount: byId('log-count'),
  };
  el.form.addEventListener('submit', (ev) => {
    ev.preventDefault();
    sendMessage();
  });
  el.input.addEventListener('keydown', onInputKey);
  el.input.addEventListener('input', () => {
    autosize();
    updateSendButton();
  });
  el.retry.addEventListener('click', () => connect());
  window.addEventListener('online', () => {
    logLine('event', 'browser is online');
    if (!state.ws) connect();
  });
  window.addEventListener('offline', () => logLine('event', 'browser is offline'));
  connect();
}

function byId(id) {
  return document.getElementById(id);
}

// --- connection -------------------------------------------------------------------------

function connect() {
  clearRetryTimers();
  if (state.ws) return;
  setStatus(state.attempt === 0 ? 'connecting' : 'reconnecting', '');
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
  ws.binaryType = 'arraybuffer';
  state.ws = ws;
  ws.addEventListener('open', () => onOpen(ws));
  ws.addEventListener('message', (ev) => onFrame(ev.data));
  ws.addEventListener('error', () => logLine('error', 'socket error'));
  ws.addEventListener('close', (ev) => onClose(ws, ev));
}

function onOpen(ws) {
  if (state.ws !== ws) return;
  state.attempt = 0; // a successful open resets the backoff
  logLine('event', 'open');
  setStatus('online', '');
  // Ask for our id. The talk's protocol has no such message, so the server only sends
  // hibiki's additions to clients that announce themselves this way.
  sendFrame(ws, { action: 'hello' });
}

function onClose(ws, ev) {
  if (state.ws !== ws) return;
  state.ws = null;
  const reason = ev.reason ? ` "${ev.reason}"` : '';
  logLine('event', `closed: code ${ev.code}${reason}${ev.wasClean ? '' : ' (not clean)'}`);
  setMyId(null);
  scheduleReconnect();
}

function scheduleReconnect() {
  clearRetryTimers();
  if (!navigator.onLine) {
    // The 'online' listener reconnects as soon as the browser has a network again.
    setStatus('offline', 'waiting for the network');
    return;
  }
  const delay = backoffDelay(state.attempt);
  state.attempt += 1;
  const due = Date.now() + delay;
  logLine('event', `reconnecting in ${(delay / 1000).toFixed(1)} s (attempt ${state.attempt})`);
  const tick = () => {
    const left = Math.max(0, Math.ceil((due - Date.now()) / 1000));
    setStatus('reconnecting', `retry in ${left} s`);
  };
  tick();
  state.countdownTimer = setInterval(tick, 1000);
  state.retryTimer = setTimeout(connect, delay);
}

function clearRetryTimers() {
  clearTimeout(state.retryTimer);
  clearInterval(state.countdownTimer);
  state.retryTimer = null;
  state.countdownTimer = null;
}

function isOnline() {
  return state.ws !== null && state.ws.readyState === WebSocket.OPEN;
}

// --- frames -----------------------------------------------------------------------------

function onFrame(data) {
  if (typeof data !== 'string') {
    logLine('in', `[binary, ${data.byteLength} bytes]`);
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
  switch (frame?.type) {
    case 'welcome':
      setMyId(String(frame.id));
      addNote(`Connected as Client ${frame.id}`);
      break;
    case 'message':
      addChatMessage(String(frame.body ?? ''));
      break;
    case 'error':
      addError(String(frame.error ?? 'unknown'));
      break;
    default:
      logLine('error', `unknown frame type ${JSON.stringify(frame?.type)}; ignored`);
  }
}

function sendFrame(ws, object) {
  const frame = JSON.stringify(object);
  ws.send(frame);
  logLine('out', frame);
}

function sendMessage() {
  const text = el.input.value;
  if (!text.trim() || !isOnline()) return;
  sendFrame(state.ws, { action: 'message', message: text });
  el.input.value = '';
  autosize();
  updateSendButton();
  el.input.focus();
}

function onInputKey(ev) {
  // Enter sends; Shift+Enter adds a line; never interrupt an IME composition.
  if (ev.key !== 'Enter' || ev.shiftKey || ev.isComposing) return;
  ev.preventDefault();
  sendMessage();
}

// --- rendering --------------------------------------------------------------------------

function setStatus(name, detail) {
  el.status.textContent = name;
  el.status.dataset.state = name;
  el.statusDetail.textContent = detail;
  el.retry.hidden = name !== 'reconnecting' && name !== 'offline';
  document.body.dataset.connection = name;
  el.input.placeholder = name === 'online' ? 'Write a message…' : 'Not connected — you can still type';
  updateSendButton();
}

function setMyId(id) {
  state.myId = id;
  el.myId.textContent = id === null ? '—' : `Client ${id}`;
  el.myId.dataset.id = id ?? '';
}

function updateSendButton() {
  el.send.disabled = !isOnline() || !el.input.value.trim();
}

function addChatMessage(body) {
  const { sender, text } = parseBody(body);
  if (sender === null) {
    addNote(body);
    return;
  }
  const mine = sender === state.myId;
  const item = document.createElement('li');
  item.className = `msg ${mine ? 'mine' : 'theirs'}`;
  item.dataset.sender = sender;
  item.style.setProperty('--hue', String(hueFor(sender)));
  // A run of messages from one sender shows the name and avatar only once.
  if (state.lastSender === sender) item.classList.add('cont');

  if (!mine) {
    const avatar = document.createElement('span');
    avatar.className = 'avatar';
    avatar.setAttribute('aria-hidden', 'true');
    avatar.textContent = sender.slice(-3);
    item.append(avatar);
  }
  const column = document.createElement('div');
  column.className = 'col';
  const meta = document.createElement('div');
  meta.className = 'meta';
  meta.append(textEl('span', 'sender', mine ? 'You' : `Client ${sender}`), timeEl());
  column.append(meta, textEl('div', 'bubble', text));
  item.append(column);
  appendItem(item, sender, mine);
}

function addNote(text) {
  const item = textEl('li', 'msg note', text);
  appendItem(item, undefined, false);
}

function addError(code) {
  const item = document.createElement('li');
  item.className = 'msg error';
  item.dataset.error = code;
  const bubble = document.createElement('div');
  bubble.className = 'bubble';
  bubble.append(textEl('strong', 'error-code', code), document.createTextNode(` ${ERROR_TEXT[code] ?? ''}`));
  item.append(bubble);
  appendItem(item, undefined, true);
}

function appendItem(item, sender, forceScroll) {
  const list = el.messages;
  const nearBottom = el.chat.scrollHeight - el.chat.scrollTop - el.chat.clientHeight < STICKY_SCROLL_PX;
  list.append(item);
  state.lastSender = sender;
  while (list.childElementCount > MAX_MESSAGES) list.firstElementChild.remove();
  el.empty.hidden = true;
  // Keep following the conversation unless the user scrolled up to read history.
  if (nearBottom || forceScroll) el.chat.scrollTop = el.chat.scrollHeight;
}

function textEl(tag, className, text) {
  const node = document.createElement(tag);
  node.className = className;
  node.textContent = text;
  return node;
}

function timeEl() {
  const now = new Date();
  const node = textEl('time', 'time', now.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' }));
  node.dateTime = now.toISOString();
  return node;
}

function autosize() {
  el.input.style.height = 'auto';
  el.input.style.height = `${Math.min(el.input.scrollHeight, 160)}px`;
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
  state.logCount += 1;
  el.logCount.textContent = String(state.logCount);
  el.log.scrollTop = el.log.scrollHeight;
}

// Importable without a DOM (e.g. to unit-test the pure helpers above).
if (typeof document !== 'undefined') {
  if (document.readyState === 'loading') document.addEventListener('DOMContentLoaded', boot);
  else boot();
}
