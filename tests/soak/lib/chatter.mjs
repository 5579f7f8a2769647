// A well-behaved chat client: says hello, leaves the lobby, joins a few rooms, chats at a
// modest rate, sometimes switches rooms, and accounts for every message it receives (see
// ledger.mjs). It ends every stay in a room with a history snapshot so the stay can be judged.
import WebSocket from 'ws';
import { RoomSession } from './ledger.mjs';

const REPLY_TIMEOUT_MS = 60_000;   // generous: the machine may be busy with other work
const ACK_WAIT_MS = 30_000;
const FILLERS = ['', 'hello', 'ことばの海', 'Zoë 🎐', 'x'.repeat(60), 'the quick brown fox '.repeat(8)];

export class Chatter {
  /**
   * world: { wsUrl, ledger, stats, roomNames, sending (flag), opts }.
   * `n` makes the tag (c<n>) and the name (soak-<n>) unique.
   */
  constructor(world, n, { deflate }) {
    this.world = world;
    this.tag = `c${n}`;
    this.name = `soak-${n}`;
    this.deflate = deflate;
    this.id = null;
    this.sessions = new Map();   // room → RoomSession
    this.seqs = new Map();       // room → last sequence sent there
    this.waiters = [];           // { match, onMatch, resolve, reject, timer }
    this.outstanding = 0;        // sent, echo not yet received
    this.ready = false;
    this.busy = false;           // a join/leave sequence is running
    this.retiring = false;
    this.abandoned = false;      // gave up after a reply never came (counted as stuck)
    this.closed = false;
    this.sendTimer = null;
    this.lastError = null;
  }

  /** Connects, says hello, leaves the lobby and joins its rooms; then chats on a timer. */
  async start() {
    await this.#connect();
    const welcome = this.#expect((f) => f.type === 'welcome');
    const lobby = this.#expectHistory('lobby', (f) => this.#openSession('lobby', f));
    this.#send({ action: 'hello', name: this.name });
    this.id = (await welcome).id;
    await lobby;
    await this.#leave('lobby');
    for (const room of this.#pickRooms(this.world.opts.roomsPerClient)) await this.#join(room);
    this.ready = true;
    this.#scheduleSend();
  }

  /**
   * Stops chatting, waits for its own echoes, snapshots every room and closes with 1000.
   * Resolves true if it closed so, false if the connection was already gone.
   */
  async retire() {
    this.retiring = true;
    clearTimeout(this.sendTimer);
    // A room switch in flight would open a stay after the snapshots below; let it finish.
    await this.#waitFor(() => !this.busy || this.closed, ACK_WAIT_MS);
    await this.#waitFor(() => this.outstanding === 0 || this.closed, ACK_WAIT_MS);
    await Promise.all([...this.sessions.keys()].map((room) => this.#snapshot(room)));
    if (this.closed) return false;
    const closed = new Promise((res) => this.ws.once('close', res));
    this.ws.close(1000);
    await closed;
    return true;
  }

  #connect() {
    this.ws = new WebSocket(this.world.wsUrl, { perMessageDeflate: this.deflate, handshakeTimeout: REPLY_TIMEOUT_MS });
    this.ws.on('message', (data) => this.#onText(data.toString('utf8')));
    this.ws.on('close', (code) => this.#onClose(code));
    this.ws.on('error', (err) => { this.lastError = err.message; });
    return new Promise((res, rej) => {
      this.ws.once('open', res);
      this.ws.once('close', () => rej(new Error(`connect failed: ${this.lastError ?? 'closed'}`)));
    });
  }

  #onText(text) {
    let frame;
    try {
      frame = JSON.parse(text);
    } catch {
      this.world.stats.count('errors', 'server sent invalid JSON');
      return;
    }
    this.#onFrame(frame);
  }

  #onFrame(frame) {
    if (frame.type === 'message') this.#onMessage(frame);
    else if (frame.type === 'error') this.world.stats.count('errors', frame.error);
    const i = this.waiters.findIndex((w) => w.match(frame));
    if (i < 0) return;
    const [waiter] = this.waiters.splice(i, 1);
    clearTimeout(waiter.timer);
    // Runs now, not in a later microtask: the frames after this one in the same read must
    // already see the session it opens or closes.
    waiter.resolve(waiter.onMatch(frame));
  }

  #onMessage(frame) {
    const { stats, ledger } = this.world;
    if (frame.id === undefined) {
      stats.talkShaped++;  // a talk-shaped frame from before our hello: allowed, ignored
      return;
    }
    stats.liveFrames++;
    ledger.record(frame.room, frame.id, frame.text);
    const session = this.sessions.get(frame.room);
    if (session) session.receive(frame.id, frame.text);
    else ledger.totals.stray++;
    if (frame.from?.id === this.id && this.outstanding > 0) {
      this.outstanding--;
      stats.acked++;
    }
  }

  #onClose(code) {
    this.closed = true;
    clearTimeout(this.sendTimer);
    const { stats, ledger } = this.world;
    if (!this.retiring && !this.abandoned && this.ready) stats.count('dropped', String(code));
    for (const session of this.sessions.values()) {
      if (this.retiring) session.finish(ledger.totals);
      else ledger.totals.lostSessions++;
    }
    this.sessions.clear();
    for (const w of this.waiters.splice(0)) {
      clearTimeout(w.timer);
      w.reject(new Error(`connection closed (${code})`));
    }
  }

  // --- rooms --------------------------------------------------------------------------

  #openSession(room, historyFrame) {
    this.sessions.set(room, new RoomSession(room, historyFrame.latest));
  }

  async #join(room) {
    const history = this.#expectHistory(room, (f) => this.#openSession(room, f));
    this.#send({ action: 'join', room });
    await history;
  }

  /** Asks for the room's history: its `latest` closes the window of ids this stay must have. */
  async #snapshot(room) {
    const session = this.sessions.get(room);
    const history = this.#expectHistory(room, (f) => { session.snapshot = f.latest; });
    this.#send({ action: 'history', room });
    await history;
  }

  async #leave(room) {
    await this.#snapshot(room);
    const left = this.#expect((f) => f.type === 'left' && f.room === room, () => {
      this.sessions.get(room).finish(this.world.ledger.totals);
      this.sessions.delete(room);
    });
    this.#send({ action: 'leave', room });
    await left;
  }

  async #switchRoom() {
    const current = [...this.sessions.keys()];
    const candidates = this.world.roomNames.filter((r) => !this.sessions.has(r));
    if (!current.length || !candidates.length) return;
    this.busy = true;
    try {
      await this.#leave(pick(current));
      await this.#join(pick(candidates));
      this.world.stats.switches++;
    } finally {
      this.busy = false;
    }
  }

  #pickRooms(k) {
    const rooms = [...this.world.roomNames];
    for (let i = rooms.length - 1; i > 0; i--) {
      const j = Math.floor(Math.random() * (i + 1));
      [rooms[i], rooms[j]] = [rooms[j], rooms[i]];
    }
    return rooms.slice(0, k);
  }

  // --- chatting -----------------------------------------------------------------------

  #scheduleSend() {
    const { msgPerMin, switchPerMin } = this.world.opts;
    const perSec = (msgPerMin + switchPerMin) / 60;
    const delay = -Math.log(1 - Math.random()) / perSec * 1000;  // a Poisson process
    this.sendTimer = setTimeout(() => this.#tick(), delay);
  }

  #tick() {
    if (this.retiring || this.closed || !this.world.sending) return;
    const { msgPerMin, switchPerMin } = this.world.opts;
    if (this.busy) {
      // Leave sends alone while a switch is running; keep the timer going.
    } else if (Math.random() < switchPerMin / (msgPerMin + switchPerMin)) {
      this.#switchRoom().catch((err) => this.#stuck(err));
    } else {
      this.#chat();
    }
    this.#scheduleSend();
  }

  #chat() {
    const rooms = [...this.sessions.keys()];
    if (!rooms.length) return;
    const room = pick(rooms);
    const seq = (this.seqs.get(room) ?? 0) + 1;
    this.seqs.set(room, seq);
    this.outstanding++;
    this.world.stats.sent++;
    this.#send({ action: 'message', room, message: `soak ${this.tag} ${seq} ${pick(FILLERS)}` });
  }

  // --- plumbing -----------------------------------------------------------------------

  #send(object) {
    if (!this.closed) this.ws.send(JSON.stringify(object));
  }

  #expect(match, onMatch = (f) => f) {
    return new Promise((resolve, reject) => {
      const waiter = { match, onMatch, resolve, reject };
      waiter.timer = setTimeout(() => {
        this.waiters.splice(this.waiters.indexOf(waiter), 1);
        reject(new Error(`no reply within ${REPLY_TIMEOUT_MS} ms`));
      }, REPLY_TIMEOUT_MS);
      this.waiters.push(waiter);
    });
  }

  #expectHistory(room, onMatch) {
    return this.#expect((f) => f.type === 'history' && f.room === room, onMatch);
  }

  async #waitFor(condition, ms) {
    const deadline = Date.now() + ms;
    while (!condition() && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
  }

  #stuck(err) {
    if (this.closed) return;
    this.world.stats.count('stuck', err.message);
    this.abandoned = true;
    this.ws.terminate();
  }

  /** Ends the client at once (used when a start or retire failed). */
  terminate() {
    clearTimeout(this.sendTimer);
    this.ws?.terminate();
  }
}

const pick = (items) => items[Math.floor(Math.random() * items.length)];
