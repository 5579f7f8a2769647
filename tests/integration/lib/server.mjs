// Shared helpers for the black-box tests: spawn a hibiki binary on an OS-chosen port,
// talk to it through `ws`, through a hand-rolled raw WebSocket client, or plain HTTP,
// and always tear everything down within bounded time.
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { randomBytes } from 'node:crypto';
import http from 'node:http';
import net from 'node:net';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import WebSocket from 'ws';

export const HOST = '127.0.0.1';
export const REPO_ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '../../..');
export const WEB_ROOT = join(REPO_ROOT, 'web');
export const DEFAULT_TIMEOUT = 5000;

const STARTUP_TIMEOUT = 10_000;
const KILL_GRACE = 5000;
const LISTENING_RE = /listening on http:\/\/127\.0\.0\.1:(\d+)/;

export function hibikiBin() {
  return process.env.HIBIKI_BIN || join(REPO_ROOT, 'build/debug/hibiki');
}

// Rejects after `ms` with a message naming what we were waiting for; the timer never
// keeps the process alive on its own.
export function withTimeout(promise, ms, what) {
  let timer;
  const timeout = new Promise((_, reject) => {
    timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms waiting for ${what}`)), ms);
    timer.unref?.();
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}

export const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** A TCP port that was free a moment ago (bind port 0, read it, close). */
export async function freePort() {
  const server = net.createServer();
  await new Promise((res, rej) => {
    server.once('error', rej);
    server.listen(0, HOST, res);
  });
  const { port } = server.address();
  await new Promise((res) => server.close(res));
  return port;
}

/** Polls `check` (sync or async) until it returns something truthy, within `ms`; returns it. */
export async function eventually(check, ms = DEFAULT_TIMEOUT, what = 'a condition') {
  const deadline = Date.now() + ms;
  for (;;) {
    const value = await check();
    if (value) return value;
    if (Date.now() > deadline) throw new Error(`timed out after ${ms} ms waiting for ${what}`);
    await sleep(20);
  }
}

/**
 * Starts `hibiki <mode> --host 127.0.0.1 --port 0 ...` and resolves once it logs the
 * port it listens on. mode: 'chat' | 'echo'. For chat, --web-root defaults to <repo>/web
 * and --db to :memory: (pass `db` for a file); `port` reuses a port, e.g. after a restart.
 * `argv` replaces every argument after the mode (settings from a --config file or the
 * environment); `env` is added to the environment (a null value removes that variable).
 */
// An environment where a variable given as null is removed (e.g. { HIBIKI_IO: null }).
function withoutNulls(env) {
  return Object.fromEntries(Object.entries(env).filter(([, value]) => value !== null));
}

export async function startServer(mode, {
  maxMessage, webRoot, db, port = 0, extraArgs = [], argv, env,
} = {}) {
  const bin = hibikiBin();
  if (!existsSync(bin)) {
    throw new Error(`hibiki binary not found at ${bin} (build it or set HIBIKI_BIN)`);
  }
  const args = [mode, '--host', HOST, '--port', String(port)];
  if (mode === 'chat') args.push('--web-root', webRoot ?? WEB_ROOT, '--db', db ?? ':memory:');
  if (maxMessage !== undefined) args.push('--max-message', String(maxMessage));
  args.push(...extraArgs);
  if (argv) args.splice(1, args.length - 1, ...argv);

  const child = spawn(bin, args, {
    stdio: ['ignore', 'pipe', 'pipe'],
    env: env ? withoutNulls({ ...process.env, ...env }) : process.env,
  });
  const server = {
    process: child,
    port: 0,
    url: '',
    wsUrl: '',
    stderr: '',
    stdout: '',
    exited: new Promise((res) => child.once('exit', (code, signal) => res({ code, signal }))),
  };
  child.stdout.setEncoding('utf8').on('data', (d) => { server.stdout += d; });
  child.stderr.setEncoding('utf8');

  const ready = new Promise((res, rej) => {
    child.stderr.on('data', (d) => {
      server.stderr += d;
      const m = LISTENING_RE.exec(server.stderr);
      if (m && !server.port) res(Number(m[1]));
    });
    child.once('error', rej);
    child.once('exit', (code, signal) =>
      rej(new Error(`hibiki exited early (code ${code}, signal ${signal}); stderr:\n${server.stderr}`)));
  });
  try {
    server.port = await withTimeout(ready, STARTUP_TIMEOUT, `"listening on" from hibiki ${mode}`);
  } catch (err) {
    await stopServer(server);
    throw err;
  }
  server.url = `http://${HOST}:${server.port}`;
  server.wsUrl = `ws://${HOST}:${server.port}`;
  return server;
}

/** SIGTERM, then SIGKILL after 5 s. Resolves with { code, signal } of the exit. */
export async function stopServer(server) {
  const child = server?.process;
  if (!child) return null;
  if (child.exitCode === null && child.signalCode === null) {
    child.kill('SIGTERM');
    const killer = setTimeout(() => child.kill('SIGKILL'), KILL_GRACE);
    killer.unref();
    const result = await server.exited;
    clearTimeout(killer);
    return result;
  }
  return server.exited;
}

/** SIGKILL (no goodbye, no flush) and wait for the process to be gone. */
export async function killServer(server) {
  const child = server?.process;
  if (!child) return null;
  if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  return withTimeout(server.exited, KILL_GRACE, 'hibiki to die after SIGKILL');
}

// ---------------------------------------------------------------------------
// `ws` client with an awaitable inbox.

/**
 * Wraps a `ws` WebSocket so tests can `await client.next()` for the next message,
 * `await client.nextPong()` and `await client.closed` ({ code, reason }).
 */
export class Client {
  constructor(ws) {
    this.ws = ws;
    this.inbox = [];
    this.pongs = [];
    this.waiters = [];
    this.pongWaiters = [];
    ws.on('message', (data, isBinary) => {
      this.#deliver(this.inbox, this.waiters, { data: Buffer.from(data), isBinary,
        text: isBinary ? null : Buffer.from(data).toString('utf8') });
    });
    ws.on('pong', (data) => this.#deliver(this.pongs, this.pongWaiters, Buffer.from(data)));
    // Errors (e.g. a close frame carrying 1007 triggers none, but a reset does) must not
    // crash the runner; the close event carries what tests assert on.
    ws.on('error', (err) => { this.error = err; });
    this.closed = new Promise((res) => {
      ws.on('close', (code, reason) => res({ code, reason: reason.toString('utf8') }));
    });
  }

  static async connect(url, options = {}) {
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: DEFAULT_TIMEOUT,
      ...options });
    const client = new Client(ws);
    await withTimeout(new Promise((res, rej) => {
      ws.once('open', res);
      ws.once('error', rej);
      ws.once('unexpected-response', (_req, resp) =>
        rej(new Error(`unexpected handshake response ${resp.statusCode}`)));
    }), DEFAULT_TIMEOUT, `WebSocket open ${url}`);
    return client;
  }

  #deliver(queue, waiters, item) {
    const waiter = waiters.shift();
    if (waiter) waiter(item);
    else queue.push(item);
  }

  #take(queue, waiters, ms, what) {
    if (queue.length) return Promise.resolve(queue.shift());
    let resolver;
    const p = new Promise((res) => { resolver = res; waiters.push(res); });
    return withTimeout(p, ms, what).catch((err) => {
      const i = waiters.indexOf(resolver);
      if (i >= 0) waiters.splice(i, 1);
      throw err;
    });
  }

  /** Next message: { data: Buffer, isBinary, text }. */
  next(ms = DEFAULT_TIMEOUT) {
    return this.#take(this.inbox, this.waiters, ms, 'next WebSocket message');
  }

  /** Next text message as a raw string (fails on binary). */
  async nextText(ms = DEFAULT_TIMEOUT) {
    const msg = await this.next(ms);
    if (msg.isBinary) throw new Error(`expected a text message, got ${msg.data.length} binary bytes`);
    return msg.text;
  }

  /** Next text message parsed as JSON. */
  async nextJson(ms = DEFAULT_TIMEOUT) {
    return JSON.parse(await this.nextText(ms));
  }

  /** Skips messages until one of JSON `type` arrives (within `ms` overall) and returns it. */
  async nextOfType(type, ms = DEFAULT_TIMEOUT) {
    const deadline = Date.now() + ms;
    for (;;) {
      const frame = await this.nextJson(Math.max(1, deadline - Date.now()));
      if (frame.type === type) return frame;
    }
  }

  nextPong(ms = DEFAULT_TIMEOUT) {
    return this.#take(this.pongs, this.pongWaiters, ms, 'pong');
  }

  /** Resolves if no message arrives within `ms`, otherwise rejects with it. */
  async expectSilence(ms = 200) {
    await sleep(ms);
    if (this.inbox.length) {
      throw new Error(`unexpected message: ${this.inbox[0].text ?? this.inbox[0].data.toString('hex')}`);
    }
  }

  send(data, options) {
    return new Promise((res, rej) => this.ws.send(data, options, (err) => (err ? rej(err) : res())));
  }

  waitClosed(ms = DEFAULT_TIMEOUT) {
    return withTimeout(this.closed, ms, 'WebSocket close');
  }

  /** Best-effort close; never throws, never hangs. */
  async dispose() {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    try { this.ws.close(1000); } catch { /* already failing */ }
    await withTimeout(this.closed, 2000, 'close').catch(() => this.ws.terminate());
  }
}

/**
 * Connects to a chat server and says hello (with `name` and `since` when given), then takes
 * the welcome and the lobby's joined and history frames off the inbox. Returns
 * { client, id, name, welcome (raw text), joined, history }.
 */
export async function joinChat(server, path = '/', { name, since } = {}) {
  const client = await Client.connect(server.wsUrl + path);
  await client.send(JSON.stringify({ action: 'hello', name, since }));
  const welcome = await client.nextText();
  const parsed = JSON.parse(welcome);
  if (parsed.type !== 'welcome') throw new Error(`expected a welcome, got ${welcome}`);
  const joined = await client.nextOfType('joined');
  const history = await client.nextOfType('history');
  return { client, id: parsed.id, name: parsed.name, welcome, joined, history };
}

/** A client that speaks only the talk's protocol: it never says hello. */
export function talkClient(server, path = '/') {
  return Client.connect(server.wsUrl + path);
}

// ---------------------------------------------------------------------------
// Plain HTTP.

export function httpGet(port, path, headers = {}, host = HOST) {
  return withTimeout(new Promise((res, rej) => {
    const req = http.get({ host, port, path, headers, agent: false }, (resp) => {
      const chunks = [];
      resp.on('data', (c) => chunks.push(c));
      resp.on('end', () => res({ status: resp.statusCode, headers: resp.headers,
        body: Buffer.concat(chunks).toString('utf8') }));
      resp.on('error', rej);
    });
    req.on('error', rej);
  }), DEFAULT_TIMEOUT, `GET ${path}`);
}

// ---------------------------------------------------------------------------
// Raw TCP: a WebSocket client that builds frames by hand, for things `ws` refuses to do.

export const OP = { CONT: 0x0, TEXT: 0x1, BINARY: 0x2, CLOSE: 0x8, PING: 0x9, PONG: 0xa };

/** Builds one client frame (masked unless mask === false). */
export function buildFrame({ opcode, payload = Buffer.alloc(0), fin = true, mask = true, rsv = 0 }) {
  const body = Buffer.isBuffer(payload) ? payload : Buffer.from(payload);
  const len = body.length;
  let head;
  if (len < 126) {
    head = Buffer.alloc(2);
    head[1] = len;
  } else if (len < 65536) {
    head = Buffer.alloc(4);
    head[1] = 126;
    head.writeUInt16BE(len, 2);
  } else {
    head = Buffer.alloc(10);
    head[1] = 127;
    head.writeBigUInt64BE(BigInt(len), 2);
  }
  head[0] = (fin ? 0x80 : 0) | (rsv << 4) | opcode;
  if (!mask) return Buffer.concat([head, body]);
  head[1] |= 0x80;
  const key = randomBytes(4);
  const masked = Buffer.alloc(len);
  for (let i = 0; i < len; i++) masked[i] = body[i] ^ key[i & 3];
  return Buffer.concat([head, key, masked]);
}

/** Parses as many complete server frames as `buf` holds. Returns { frames, rest }. */
export function parseFrames(buf) {
  const frames = [];
  let off = 0;
  while (buf.length - off >= 2) {
    const b0 = buf[off];
    const b1 = buf[off + 1];
    let len = b1 & 0x7f;
    let pos = off + 2;
    if (len === 126) {
      if (buf.length - pos < 2) break;
      len = buf.readUInt16BE(pos);
      pos += 2;
    } else if (len === 127) {
      if (buf.length - pos < 8) break;
      len = Number(buf.readBigUInt64BE(pos));
      pos += 8;
    }
    const masked = (b1 & 0x80) !== 0;
    let key = null;
    if (masked) {
      if (buf.length - pos < 4) break;
      key = buf.subarray(pos, pos + 4);
      pos += 4;
    }
    if (buf.length - pos < len) break;
    let payload = Buffer.from(buf.subarray(pos, pos + len));
    if (key) for (let i = 0; i < len; i++) payload[i] ^= key[i & 3];
    frames.push({ fin: (b0 & 0x80) !== 0, rsv: (b0 >> 4) & 7, opcode: b0 & 0x0f, masked, payload });
    off = pos + len;
  }
  return { frames, rest: buf.subarray(off) };
}

/** Decodes a close frame payload into { code, reason } (code 1005 when empty). */
export function parseClose(payload) {
  if (payload.length < 2) return { code: 1005, reason: '' };
  return { code: payload.readUInt16BE(0), reason: payload.subarray(2).toString('utf8') };
}

/**
 * Opens a TCP connection and optionally sends a request head. `ended` resolves when the
 * server closes its side (or the socket closes), with all bytes received.
 */
export function rawSocket(port) {
  return withTimeout(new Promise((res, rej) => {
    const sock = net.connect({ host: HOST, port }, () => res(sock));
    sock.once('error', rej);
  }), DEFAULT_TIMEOUT, 'TCP connect');
}

/**
 * Sends a raw HTTP request and collects everything until the server ends the connection
 * or `ms` passes. Returns { text, closed } where closed tells whether the server hung up.
 */
export async function rawExchange(port, request, ms = DEFAULT_TIMEOUT) {
  const sock = await rawSocket(port);
  const chunks = [];
  const done = new Promise((res) => {
    sock.on('data', (c) => chunks.push(c));
    sock.on('end', () => res(true));
    sock.on('close', () => res(true));
    sock.on('error', () => res(true));
  });
  sock.write(request);
  const closed = await withTimeout(done, ms, 'server to close the socket').catch(() => false);
  sock.destroy();
  return { text: Buffer.concat(chunks).toString('latin1'), closed };
}

/** Splits an HTTP response head into { statusLine, status, headers (lowercased names) }. */
export function parseHead(text) {
  const headEnd = text.indexOf('\r\n\r\n');
  const head = headEnd >= 0 ? text.slice(0, headEnd) : text;
  const [statusLine, ...lines] = head.split('\r\n');
  const headers = {};
  for (const line of lines) {
    const i = line.indexOf(':');
    if (i > 0) headers[line.slice(0, i).trim().toLowerCase()] = line.slice(i + 1).trim();
  }
  return { statusLine, status: Number(statusLine.split(' ')[1]), headers,
    body: headEnd >= 0 ? text.slice(headEnd + 4) : '' };
}

export function upgradeRequest(port, { path = '/', key = randomBytes(16).toString('base64'),
  version = '13', omit = [] } = {}) {
  const headers = {
    Host: `${HOST}:${port}`,
    Upgrade: 'websocket',
    Connection: 'Upgrade',
    'Sec-WebSocket-Key': key,
    'Sec-WebSocket-Version': version,
  };
  for (const name of omit) delete headers[name];
  return `GET ${path} HTTP/1.1\r\n` +
    Object.entries(headers).map(([k, v]) => `${k}: ${v}\r\n`).join('') + '\r\n';
}

/**
 * A completed WebSocket handshake over a raw socket. `send(frameSpec)` writes a frame,
 * `nextFrame()` awaits the next server frame, `ended` resolves when TCP closes.
 */
export class RawClient {
  static async connect(port, path = '/', requestOptions = {}) {
    const sock = await rawSocket(port);
    const c = new RawClient(sock);
    sock.write(upgradeRequest(port, { path, ...requestOptions }));
    const head = await withTimeout(c.#headPromise, DEFAULT_TIMEOUT, 'handshake response');
    c.head = parseHead(head);
    if (c.head.status !== 101) {
      sock.destroy();
      throw new Error(`handshake failed: ${c.head.statusLine}`);
    }
    return c;
  }

  #headPromise;

  constructor(sock) {
    this.sock = sock;
    this.buf = Buffer.alloc(0);
    this.frames = [];
    this.waiters = [];
    let headDone = false;
    let resolveHead;
    this.#headPromise = new Promise((res) => { resolveHead = res; });
    this.ended = new Promise((res) => sock.on('close', res));
    sock.on('error', () => {});
    sock.on('data', (chunk) => {
      this.buf = Buffer.concat([this.buf, chunk]);
      if (!headDone) {
        const i = this.buf.indexOf('\r\n\r\n');
        if (i < 0) return;
        headDone = true;
        resolveHead(this.buf.subarray(0, i + 4).toString('latin1'));
        this.buf = this.buf.subarray(i + 4);
      }
      const { frames, rest } = parseFrames(this.buf);
      this.buf = Buffer.from(rest);
      for (const f of frames) {
        const w = this.waiters.shift();
        if (w) w(f);
        else this.frames.push(f);
      }
    });
  }

  send(spec) {
    this.sock.write(buildFrame(spec));
  }

  nextFrame(ms = DEFAULT_TIMEOUT) {
    if (this.frames.length) return Promise.resolve(this.frames.shift());
    return withTimeout(new Promise((res) => this.waiters.push(res)), ms, 'server frame');
  }

  /** Skips frames until a close frame arrives; returns its { code, reason }. */
  async nextClose(ms = DEFAULT_TIMEOUT) {
    const deadline = Date.now() + ms;
    for (;;) {
      const f = await this.nextFrame(Math.max(1, deadline - Date.now()));
      if (f.opcode === OP.CLOSE) return parseClose(f.payload);
    }
  }

  destroy() {
    this.sock.destroy();
  }
}
