// Helpers for the cluster tests: a real redis-server on a free port, started with the
// project's own settings (examples/cluster/redis.conf: append-only file, fsync every second)
// in a temporary directory, `hibiki chat --redis` nodes pointing at it, readiness polling, and a
// chat peer that keeps every frame it gets. Everything listens on loopback (or inside network
// namespaces a test made), every wait is bounded, and processes are stopped by their PID.
import { spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import {
  DEFAULT_TIMEOUT, HOST, REPO_ROOT, WEB_ROOT, eventually, freePort, hibikiBin, httpGet, sleep,
  withTimeout,
} from './server.mjs';

export { eventually, freePort };

export const REDIS_CONF = join(REPO_ROOT, 'examples/cluster/redis.conf');
const STARTUP_TIMEOUT = 10_000;
const LISTENING_RE = /listening on http:\/\/[^:]+:(\d+)/;

function waitForExit(child) {
  return new Promise((res) => {
    if (child.exitCode !== null || child.signalCode !== null) res();
    else child.once('exit', () => res());
  });
}

/**
 * Starts redis-server. `persistent` (default true): the project's redis.conf, its AOF in `dir`;
 * false: no persistence at all, as a Redis that comes back empty. `spawnFn` runs it elsewhere
 * (a network namespace); `bind` is then that namespace's address.
 * Returns { port, url, dir, pid, kill(), stop(), restart() }.
 */
export async function startRedis({ port, dir, persistent = true, bind = HOST, spawnFn = spawn,
  urlHost = bind } = {}) {
  const redis = {
    port: port ?? await freePort(),
    dir: dir ?? mkdtempSync(join(tmpdir(), 'hibiki-redis-')),
    ownsDir: dir === undefined,
    persistent,
    bind,
    process: null,
    log: '',
  };
  redis.url = `redis://${urlHost}:${redis.port}`;
  const launch = async () => {
    const args = persistent ? [REDIS_CONF] : ['--save', '', '--appendonly', 'no'];
    args.push('--port', String(redis.port), '--bind', bind, '--dir', redis.dir,
      '--protected-mode', 'no', '--loglevel', 'notice', '--logfile', '');
    const child = spawnFn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] });
    redis.process = child;
    redis.pid = child.pid;
    const ready = new Promise((res, rej) => {
      const onData = (d) => {
        redis.log += d;
        if (redis.log.includes('Ready to accept connections')) res();
      };
      child.stdout.setEncoding('utf8').on('data', onData);
      child.stderr.setEncoding('utf8').on('data', onData);
      child.once('exit', (code) => rej(new Error(`redis-server exited (${code}):\n${redis.log}`)));
    });
    redis.log = '';
    try {
      await withTimeout(ready, STARTUP_TIMEOUT, 'redis-server to accept connections');
    } catch (err) {
      await redis.kill(); // a redis-server that did not come up is not left behind
      throw err;
    }
  };
  /** SIGKILL: a crash. Resolves once it is gone. */
  redis.kill = async () => {
    const child = redis.process;
    if (!child) return;
    redis.process = null;
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, 'SIGKILL');
    await withTimeout(waitForExit(child), DEFAULT_TIMEOUT, 'redis-server to die');
  };
  /** Starts it again on the same port and directory (its AOF, if any, is replayed). */
  redis.restart = launch;
  /** Stops it for good and removes its directory when the helper made it. */
  redis.stop = async () => {
    await redis.kill();
    if (redis.ownsDir) rmSync(redis.dir, { recursive: true, force: true });
  };
  try {
    await launch();
  } catch (err) {
    if (redis.ownsDir) rmSync(redis.dir, { recursive: true, force: true });
    throw err;
  }
  return redis;
}

/**
 * Starts `hibiki chat --redis <redisUrl>` on a free port (or `port`). Resolves once it listens;
 * does not wait for readiness (see waitReady). `host` is the listen address; `spawnFn` runs it
 * elsewhere (a network namespace). Returns { process, pid, port, url, wsUrl, stderr, exited,
 * kill(signal) }.
 */
export async function startNode(redisUrl, { nodeId, port = 0, host = HOST, urlHost = host,
  args = [], spawnFn = spawn } = {}) {
  const argv = ['chat', '--host', host, '--port', String(port), '--web-root', WEB_ROOT,
    '--redis', redisUrl, ...(nodeId ? ['--node-id', nodeId] : []), ...args];
  const child = spawnFn(hibikiBin(), argv, { stdio: ['ignore', 'pipe', 'pipe'] });
  const node = {
    process: child,
    pid: child.pid,
    stderr: '',
    port: 0,
    exited: new Promise((res) => child.once('exit', (code, signal) => res({ code, signal }))),
  };
  const listening = new Promise((res, rej) => {
    child.stderr.setEncoding('utf8').on('data', (d) => {
      node.stderr += d;
      const m = LISTENING_RE.exec(node.stderr);
      if (m && !node.port) res(Number(m[1]));
    });
    child.stdout.resume();
    child.once('exit', (code, signal) =>
      rej(new Error(`hibiki exited early (${code}, ${signal}):\n${node.stderr}`)));
  });
  node.port = await withTimeout(listening, STARTUP_TIMEOUT, 'hibiki chat to listen');
  node.url = `http://${urlHost}:${node.port}`;
  node.wsUrl = `ws://${urlHost}:${node.port}`;
  node.host = urlHost;
  /** Sends `signal` by PID and waits for the exit. */
  node.kill = async (signal = 'SIGTERM') => {
    if (child.exitCode === null && child.signalCode === null) process.kill(child.pid, signal);
    return withTimeout(node.exited, 10_000, `hibiki to exit after ${signal}`);
  };
  return node;
}

/** GET /readyz on the node: { status, body }. */
export async function readiness(node) {
  const response = await httpGet(node.port, '/readyz', {}, node.host);
  return { status: response.status, body: JSON.parse(response.body) };
}

/** Polls /readyz until it answers 200 (within `ms`). */
export async function waitReady(node, ms = 10_000) {
  const deadline = Date.now() + ms;
  let last;
  while (Date.now() < deadline) {
    try {
      last = await readiness(node);
      if (last.status === 200) return last;
    } catch (err) {
      last = err.message;
    }
    await sleep(50);
  }
  throw new Error(`node on port ${node.port} not ready within ${ms} ms: ${JSON.stringify(last)}`);
}

/**
 * A chat client that keeps every frame it receives (parsed) in `frames`, so tests can wait for
 * conditions over all of them. `hello(name, since)` says hello and waits for the lobby state.
 */
export class Peer {
  static async connect(node, path = '/') {
    const peer = new Peer();
    const url = `${node.wsUrl}${path}`;
    const ws = new WebSocket(url, { perMessageDeflate: false, handshakeTimeout: DEFAULT_TIMEOUT });
    peer.ws = ws;
    peer.frames = [];
    ws.on('message', (data, isBinary) => {
      if (!isBinary) peer.frames.push(JSON.parse(Buffer.from(data).toString('utf8')));
    });
    ws.on('error', (err) => { peer.error = err; });
    peer.closed = new Promise((res) => {
      ws.on('close', (code, reason) => res({ code, reason: reason.toString('utf8') }));
    });
    await withTimeout(new Promise((res, rej) => {
      ws.once('open', res);
      ws.once('error', rej);
      ws.once('unexpected-response', (_req, resp) =>
        rej(new Error(`unexpected handshake response ${resp.statusCode}`)));
    }), DEFAULT_TIMEOUT, `WebSocket open ${url}`);
    return peer;
  }

  send(frame) {
    const data = typeof frame === 'string' ? frame : JSON.stringify(frame);
    return new Promise((res, rej) => this.ws.send(data, (err) => (err ? rej(err) : res())));
  }

  /** Frames of `type` (and `room`, when given). */
  of(type, room) {
    return this.frames.filter((f) => f.type === type && (room === undefined || f.room === room));
  }

  /** Waits for a frame matching `predicate` at index `from` or later; returns [frame, index]. */
  async waitFor(predicate, { from = 0, ms = DEFAULT_TIMEOUT, what = 'a frame' } = {}) {
    let found = -1;
    await eventually(() => {
      found = this.frames.findIndex((f, i) => i >= from && predicate(f));
      return found >= 0;
    }, ms, what);
    return [this.frames[found], found];
  }

  async hello(name, since) {
    const from = this.frames.length;
    await this.send({ action: 'hello', name, since });
    const [welcome] = await this.waitFor((f) => f.type === 'welcome', { from, what: 'welcome' });
    await this.waitFor((f) => f.type === 'history' && f.room === 'lobby',
      { from, what: 'lobby history' });
    this.id = welcome.id;
    this.name = welcome.name;
    return welcome;
  }

  /** Joins `room`; resolves with { joined, history, gap } (gap: a history_gap error first). */
  async join(room, since) {
    const from = this.frames.length;
    await this.send({ action: 'join', room, since });
    const [joined, at] = await this.waitFor((f) => f.type === 'joined' && f.room === room,
      { from, what: `joined ${room}` });
    const [history, end] = await this.waitFor((f) => f.type === 'history' && f.room === room,
      { from: at, what: `history ${room}` });
    const gap = this.frames.slice(at, end).find((f) => f.error === 'history_gap');
    return { joined, history, gap };
  }

  /** Chat messages of `room` seen so far, live and from history, by id (duplicates kept). */
  messages(room = 'lobby') {
    const out = [];
    for (const f of this.frames) {
      if (f.type === 'message' && f.room === room) out.push(f);
      if (f.type === 'history' && f.room === room) out.push(...f.messages);
    }
    return out;
  }

  /** Best-effort close; never throws, never hangs. */
  async close() {
    if (this.ws.readyState === WebSocket.CLOSED) return;
    try { this.ws.close(1000); } catch { /* already failing */ }
    await withTimeout(this.closed, 2000, 'close').catch(() => this.ws.terminate());
  }
}

export { sleep };
