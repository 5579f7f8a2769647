// Misbehaving clients. Each scenario does one bad thing and returns how the server treated it
// (an outcome label); the pool runs a fixed number of them at any time, picking scenarios at
// random, and tallies the outcomes. `expect` lists the labels that are the server defending
// itself as documented (README, docs/CHAT-PROTOCOL.md); anything else is reported as unexpected.
import net from 'node:net';
import WebSocket from 'ws';
import { HOST, OP, buildFrame, parseClose, parseFrames, parseHead, upgradeRequest } from '../../integration/lib/server.mjs';

const SCENARIO_TIMEOUT_MS = 90_000;
const WAIT_MS = 30_000;

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function until(condition, ms = WAIT_MS) {
  const deadline = Date.now() + ms;
  while (!condition() && Date.now() < deadline) await sleep(25);
  return condition();
}

// --- a `ws` client that records what it gets ------------------------------------------------

// `keep: false` ignores what arrives (the never-reader gets megabytes once it reads again).
async function wsOpen(url, { keep = true } = {}) {
  const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: WAIT_MS });
  ws.frames = [];
  ws.closeCode = null;
  ws.on('message', (data, isBinary) => {
    if (keep && !isBinary) ws.frames.push(JSON.parse(data.toString('utf8')));
  });
  ws.on('error', () => {});  // the close event says what happened
  ws.on('close', (code) => { ws.closeCode = code; });
  await new Promise((res, rej) => {
    ws.once('open', res);
    ws.once('close', () => rej(new Error('handshake failed')));
  });
  return ws;
}

const errorsOf = (ws) => ws.frames.filter((f) => f.type === 'error').map((f) => f.error);

async function closeOutcome(ws) {
  await until(() => ws.closeCode !== null);
  if (ws.closeCode === null) {
    ws.terminate();
    return 'kept open';
  }
  return ws.closeCode === 1006 ? 'cut off (1006)' : `close ${ws.closeCode}`;
}

// --- a raw TCP WebSocket client, for frames `ws` will not send -------------------------------

class RawConn {
  static async open(port, { handshake = true } = {}) {
    const sock = net.connect({ host: HOST, port });
    await new Promise((res, rej) => { sock.once('connect', res); sock.once('error', rej); });
    const conn = new RawConn(sock, port);
    if (handshake) await conn.#handshake();
    return conn;
  }

  constructor(sock, port) {
    this.sock = sock;
    this.port = port;
    this.received = Buffer.alloc(0);
    this.head = null;
    this.frames = [];
    this.close = null;     // { code, reason } of the server's close frame
    this.pongs = 0;
    this.ended = false;
    sock.on('error', () => {});
    sock.on('close', () => { this.ended = true; });
    sock.on('data', (chunk) => this.#onData(chunk));
  }

  async #handshake() {
    this.sock.write(upgradeRequest(this.port));
    await until(() => this.head !== null || this.ended);
    if (this.head?.status !== 101) throw new Error(`handshake answered ${this.head?.status ?? 'nothing'}`);
  }

  #onData(chunk) {
    this.received = Buffer.concat([this.received, chunk]);
    if (this.head === null) {
      const end = this.received.indexOf('\r\n\r\n');
      if (end < 0) return;
      this.head = parseHead(this.received.subarray(0, end + 4).toString('latin1'));
      this.received = this.received.subarray(end + 4);
      if (this.head.status !== 101) return;
    }
    const { frames, rest } = parseFrames(this.received);
    this.received = Buffer.from(rest);
    for (const f of frames) {
      if (f.opcode === OP.PONG) this.pongs++;
      else if (f.opcode === OP.CLOSE) this.close = parseClose(f.payload);
      else this.frames.push(f);
    }
  }

  /** Writes and waits for the kernel to take the bytes (or for the socket to close). */
  write(bytes) {
    if (this.ended || this.sock.write(bytes)) return Promise.resolve();
    return new Promise((res) => {
      const done = () => {
        this.sock.off('drain', done);
        this.sock.off('close', done);
        res();
      };
      this.sock.on('drain', done);
      this.sock.on('close', done);
    });
  }

  async closeOutcome() {
    await until(() => this.close !== null || this.ended);
    this.destroy();
    if (this.close) return `close ${this.close.code}`;
    return this.ended ? 'cut off (no close frame)' : 'kept open';
  }

  destroy() {
    this.sock.destroy();
  }
}

// --- the scenarios ------------------------------------------------------------------------

async function invalidJson({ wsUrl }) {
  const ws = await wsOpen(wsUrl);
  ws.send(JSON.stringify({ action: 'hello' }));
  ws.send('{"action":"message","message":');
  ws.send('not json at all');
  await until(() => errorsOf(ws).length >= 2 || ws.closeCode !== null);
  const outcome = `error ${errorsOf(ws).join(' ')}, ${ws.closeCode === null ? 'kept open' : `closed ${ws.closeCode}`}`;
  ws.close(1000);
  return outcome;
}

// A talk client (no hello) asking for things it may not have, or badly.
async function badRequests({ wsUrl }) {
  const ws = await wsOpen(wsUrl);
  ws.send(JSON.stringify({ action: 'join', room: 'room-00' }));
  ws.send(Buffer.from([1, 2, 3]), { binary: true });
  ws.send(JSON.stringify({ action: 'dance' }));
  ws.send(JSON.stringify({ action: 'message', message: 'x'.repeat(4001) }));
  ws.send(JSON.stringify({ action: 'message', message: ' \t ' }));
  await until(() => errorsOf(ws).length >= 5 || ws.closeCode !== null);
  const outcome = `errors ${errorsOf(ws).join(' ')}`;
  ws.close(1000);
  return outcome;
}

// `ws` validates nothing it sends: a Buffer with `binary: false` goes out as a text frame.
async function invalidUtf8Ws({ wsUrl }) {
  const ws = await wsOpen(wsUrl);
  const bad = Buffer.concat([Buffer.from('{"action":"message","message":"'), Buffer.from([0xff, 0xfe]), Buffer.from('"}')]);
  ws.send(bad, { binary: false });
  return closeOutcome(ws);
}

// The first fragment ends inside a code point; the next one breaks it.
async function invalidUtf8Fragments({ port }) {
  const conn = await RawConn.open(port);
  const first = Buffer.concat([Buffer.from('{"action":"message","message":"caf'), Buffer.from([0xc3])]);
  await conn.write(buildFrame({ opcode: OP.TEXT, fin: false, payload: first }));
  await conn.write(buildFrame({ opcode: OP.CONT, fin: true, payload: Buffer.from([0x28, 0x22, 0x7d]) }));
  return conn.closeOutcome();
}

async function oversizeMessage({ wsUrl }) {
  const ws = await wsOpen(wsUrl);
  ws.send(JSON.stringify({ action: 'message', message: 'x'.repeat(70_000) }));
  return closeOutcome(ws);
}

// A frame header announcing 2^63 - 1 bytes, followed by nothing.
async function oversizeHeader({ port }) {
  const conn = await RawConn.open(port);
  const head = Buffer.alloc(14);
  head[0] = 0x80 | OP.TEXT;
  head[1] = 0x80 | 127;
  head.writeBigUInt64BE(2n ** 63n - 1n, 2);
  await conn.write(head);  // the last 4 bytes are the (zero) mask key
  return conn.closeOutcome();
}

const FLOOD_PINGS = 20_000;

async function pingFlood({ port }) {
  const conn = await RawConn.open(port);
  const batch = Buffer.concat(Array.from({ length: 1000 },
    () => buildFrame({ opcode: OP.PING, payload: Buffer.alloc(125, 0x70) })));
  for (let sent = 0; sent < FLOOD_PINGS && !conn.ended && !conn.close; sent += 1000) await conn.write(batch);
  await until(() => conn.pongs >= FLOOD_PINGS || conn.close !== null || conn.ended);
  if (conn.close || conn.ended) return conn.closeOutcome();
  conn.destroy();
  return conn.pongs >= FLOOD_PINGS ? 'all pongs' : `pongs ${conn.pongs}/${FLOOD_PINGS}`;
}

const NEVER_READ_TEXTS = 40;          // of 4,000 characters (--max-text), in its own room
const NEVER_READ_REQUESTS = 200;      // history requests: ~160 KB answers, ~32 MB in all
const NEVER_READ_PAUSE_MS = 20_000;
let neverReadRooms = 0;

// Stops reading, fills a room of its own with long messages (so the size of what it asks for
// does not depend on the rest of the run), then asks for that history over and over: the
// answers pile up in the server's send queue until the cap (--max-buffered) closes it.
async function neverRead({ wsUrl }) {
  const ws = await wsOpen(wsUrl, { keep: false });
  // ws.pause(), not ws._socket.pause(): `ws` resumes its socket on its own unless paused.
  ws.pause();
  const room = `never-read-${++neverReadRooms}`;
  ws.send(JSON.stringify({ action: 'hello' }));
  ws.send(JSON.stringify({ action: 'join', room }));
  const text = 'z'.repeat(4000);
  for (let i = 0; i < NEVER_READ_TEXTS; i++) ws.send(JSON.stringify({ action: 'message', room, message: text }));
  const request = JSON.stringify({ action: 'history', room });
  for (let i = 0; i < NEVER_READ_REQUESTS; i++) ws.send(request);
  await sleep(NEVER_READ_PAUSE_MS);
  ws.resume();
  return closeOutcome(ws);
}

const DRIBBLE_INTERVAL_MS = 250;

// Sends the upgrade request one byte at a time (about 40 s in all) and notes when and how the
// server ends it.
async function dribble({ port }, record) {
  const conn = await RawConn.open(port, { handshake: false });
  const request = Buffer.from(upgradeRequest(port));
  const started = Date.now();
  for (let i = 0; i < request.length && !conn.ended && conn.head === null; i++) {
    conn.sock.write(request.subarray(i, i + 1));
    await sleep(DRIBBLE_INTERVAL_MS);
  }
  await until(() => conn.ended, 5000);
  record('dribble seconds', (Date.now() - started) / 1000);
  conn.destroy();
  if (conn.head) return `http ${conn.head.status}`;
  return conn.ended ? 'closed without a response' : 'not cut off';
}

async function abruptMidFrame({ port }) {
  const conn = await RawConn.open(port);
  await conn.write(buildFrame({ opcode: OP.TEXT, payload: JSON.stringify({ action: 'hello' }) }));
  const whole = buildFrame({ opcode: OP.TEXT, payload: Buffer.alloc(1000, 0x61) });
  await conn.write(whole.subarray(0, 200));
  conn.destroy();
  return 'destroyed';
}

async function abruptMidHandshake({ port }) {
  const conn = await RawConn.open(port, { handshake: false });
  const request = upgradeRequest(port);
  await conn.write(request.slice(0, request.length >> 1));
  await sleep(100);
  conn.destroy();
  return 'destroyed';
}

// Vanishes without a close frame while in a busy room (the room must forget it).
async function abruptInRoom({ wsUrl, roomNames }) {
  const ws = await wsOpen(wsUrl);
  const room = roomNames[Math.floor(Math.random() * roomNames.length)];
  ws.send(JSON.stringify({ action: 'hello' }));
  ws.send(JSON.stringify({ action: 'join', room }));
  await until(() => ws.frames.some((f) => f.type === 'history' && f.room === room) || ws.closeCode !== null);
  await sleep(Math.random() * 2000);
  ws._socket.destroy();
  return 'destroyed';
}

export const SCENARIOS = [
  { kind: 'invalid JSON', run: invalidJson, expect: ['error invalid_json invalid_json, kept open'] },
  { kind: 'bad requests (talk client)', run: badRequests,
    expect: ['errors hello_required binary_not_supported unknown_action message_too_long empty_message'] },
  { kind: 'invalid UTF-8 (ws, binary as text)', run: invalidUtf8Ws, expect: ['close 1007'] },
  { kind: 'invalid UTF-8 (raw, across fragments)', run: invalidUtf8Fragments, expect: ['close 1007'] },
  { kind: 'oversize message (70 KB)', run: oversizeMessage, expect: ['close 1009'] },
  { kind: 'oversize length header (2^63-1)', run: oversizeHeader, expect: ['close 1009'] },
  { kind: `ping flood (${FLOOD_PINGS} pings)`, run: pingFlood, expect: ['all pongs', 'close 1008'] },
  // At most two at once: each may pin a full send queue (--max-buffered) in the server.
  { kind: 'never reads (paused, asks for 32 MB)', run: neverRead, maxConcurrent: 2,
    expect: ['close 1008', 'cut off (1006)'] },
  { kind: 'dribbled handshake', run: dribble, expect: ['http 408'] },
  { kind: 'abrupt close mid-frame', run: abruptMidFrame, expect: ['destroyed'] },
  { kind: 'abrupt close mid-handshake', run: abruptMidHandshake, expect: ['destroyed'] },
  { kind: 'abrupt close in a busy room', run: abruptInRoom, expect: ['destroyed'] },
];

/** Keeps `concurrency` misbehaving clients running until stop(); tallies their outcomes. */
export class MisbehaverPool {
  constructor(env, concurrency) {
    this.env = env;                 // { port, wsUrl, roomNames }
    this.concurrency = concurrency;
    this.running = false;
    this.outcomes = new Map();      // kind → Map(outcome → count)
    this.figures = new Map();       // name → { min, max, n }
    this.done = 0;
    this.slots = [];
    this.active = new Map();        // scenario → running now
  }

  start() {
    this.running = true;
    for (let i = 0; i < this.concurrency; i++) this.slots.push(this.#slot());
  }

  async stop() {
    this.running = false;
    await Promise.all(this.slots);
  }

  // Slots pick scenarios at random (within each one's maxConcurrent) after a random pause,
  // so they do not fall into step and run the same slow scenario all at once.
  async #slot() {
    while (this.running) {
      await sleep(Math.random() * 1000);
      const scenario = this.#pick();
      this.active.set(scenario, (this.active.get(scenario) ?? 0) + 1);
      const outcome = await this.#runOne(scenario);
      this.active.set(scenario, this.active.get(scenario) - 1);
      this.#tally(scenario.kind, outcome);
      this.done++;
    }
  }

  #pick() {
    const open = SCENARIOS.filter((s) => (this.active.get(s) ?? 0) < (s.maxConcurrent ?? Infinity));
    return open[Math.floor(Math.random() * open.length)];
  }

  async #runOne(scenario) {
    let timer;
    const timeout = new Promise((res) => { timer = setTimeout(() => res('scenario timed out'), SCENARIO_TIMEOUT_MS); });
    try {
      return await Promise.race([scenario.run(this.env, (name, v) => this.#figure(name, v)), timeout]);
    } catch (err) {
      return `failed: ${err.message}`;
    } finally {
      clearTimeout(timer);
    }
  }

  #tally(kind, outcome) {
    if (!this.outcomes.has(kind)) this.outcomes.set(kind, new Map());
    const byOutcome = this.outcomes.get(kind);
    byOutcome.set(outcome, (byOutcome.get(outcome) ?? 0) + 1);
  }

  #figure(name, value) {
    const f = this.figures.get(name) ?? { min: Infinity, max: -Infinity, n: 0 };
    this.figures.set(name, { min: Math.min(f.min, value), max: Math.max(f.max, value), n: f.n + 1 });
  }

  /** Rows { kind, outcome, count, expected } for the report. */
  rows() {
    const rows = [];
    for (const { kind, expect } of SCENARIOS) {
      for (const [outcome, count] of this.outcomes.get(kind) ?? []) {
        rows.push({ kind, outcome, count, expected: expect.includes(outcome) });
      }
    }
    return rows;
  }
}
