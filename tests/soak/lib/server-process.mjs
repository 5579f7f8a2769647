// The hibiki process under test: started on a free loopback port, sampled through /proc and
// /healthz, and stopped with SIGTERM. Only the process started here is ever signalled.
import { spawn } from 'node:child_process';
import { readdirSync, readFileSync, readlinkSync } from 'node:fs';
import http from 'node:http';
import { HOST, withTimeout } from '../../integration/lib/server.mjs';

const LISTENING_RE = /listening on http:\/\/127\.0\.0\.1:(\d+)/;
const MAX_KEPT_LOG_LINES = 50;
const CLOCK_TICKS_PER_SECOND = 100;  // USER_HZ, 100 on Linux

export class ServerProcess {
  /** `serverArgs` follow `hibiki chat`; `cpus` pins the process with taskset. */
  static async start(bin, serverArgs, { cpus = null } = {}) {
    const [cmd, args] = cpus === null
      ? [bin, ['chat', ...serverArgs]]
      : ['taskset', ['-c', cpus, bin, 'chat', ...serverArgs]];
    const server = new ServerProcess(spawn(cmd, args, { stdio: ['ignore', 'ignore', 'pipe'] }));
    server.commandLine = [cmd, ...args].join(' ');
    server.port = await withTimeout(server.#listeningPort(), 15_000, 'hibiki to listen');
    return server;
  }

  constructor(child) {
    this.child = child;
    this.pid = child.pid;  // taskset execs hibiki, so the pid is hibiki's either way
    this.logLines = [];
    this.logLineCount = 0;
    this.exit = null;
    this.exited = new Promise((res) => child.once('exit', (code, signal) => {
      this.exit = { code, signal };
      res(this.exit);
    }));
    this.stderr = '';
    child.stderr.setEncoding('utf8').on('data', (d) => this.#collect(d));
  }

  get alive() { return this.exit === null; }
  get wsUrl() { return `ws://${HOST}:${this.port}/`; }

  // The port comes from the "listening on" line, or else from the process's listening socket
  // in /proc (a server started with --log-level off).
  #listeningPort() {
    return new Promise((res, rej) => {
      const poll = setInterval(() => {
        const m = LISTENING_RE.exec(this.stderr);
        const port = m ? Number(m[1]) : listeningPortOf(this.pid);
        if (port) {
          clearInterval(poll);
          res(port);
        }
      }, 50);
      this.child.once('error', (err) => { clearInterval(poll); rej(err); });
      this.exited.then(({ code, signal }) => {
        clearInterval(poll);
        rej(new Error(`hibiki exited at start (code ${code}, signal ${signal}):\n${this.stderr}`));
      });
    });
  }

  // Keeps the first lines of what the server logs (warnings and errors at --log-level warn).
  #collect(text) {
    if (this.stderr.length < 64 * 1024) this.stderr += text;
    for (const line of text.split('\n')) {
      if (!line.trim() || LISTENING_RE.test(line)) continue;
      this.logLineCount++;
      if (this.logLines.length < MAX_KEPT_LOG_LINES) this.logLines.push(line);
    }
  }

  /** Resident set size in bytes (VmRSS), or null once the process is gone. */
  rssBytes() {
    try {
      const m = /VmRSS:\s+(\d+) kB/.exec(readFileSync(`/proc/${this.pid}/status`, 'utf8'));
      return m ? Number(m[1]) * 1024 : null;
    } catch {
      return null;
    }
  }

  /** CPU time used so far (user + system), in seconds, or null once the process is gone. */
  cpuSeconds() {
    try {
      // Fields after the parenthesised command name; utime and stime are the 12th and 13th.
      const fields = readFileSync(`/proc/${this.pid}/stat`, 'utf8').split(') ')[1].split(' ');
      return (Number(fields[11]) + Number(fields[12])) / CLOCK_TICKS_PER_SECOND;
    } catch {
      return null;
    }
  }

  /** Open file descriptors, or null once the process is gone. */
  openFds() {
    try {
      return readdirSync(`/proc/${this.pid}/fd`).length;
    } catch {
      return null;
    }
  }

  /** What each open descriptor points at (socket:[…], a file path, anon_inode:…). */
  fdTargets() {
    try {
      return readdirSync(`/proc/${this.pid}/fd`).map((fd) => {
        try { return readlinkSync(`/proc/${this.pid}/fd/${fd}`); } catch { return '?'; }
      });
    } catch {
      return [];
    }
  }

  /** GET /healthz → { status, connections, rooms }, or null when it does not answer. */
  healthz(ms = 10_000) {
    const request = new Promise((res) => {
      const req = http.get({ host: HOST, port: this.port, path: '/healthz', agent: false }, (resp) => {
        let body = '';
        resp.setEncoding('utf8').on('data', (c) => { body += c; });
        resp.on('end', () => {
          try { res(JSON.parse(body)); } catch { res(null); }
        });
      });
      req.on('error', () => res(null));
    });
    return withTimeout(request, ms, '/healthz').catch(() => null);
  }

  /** SIGTERM, SIGKILL after `graceMs`; resolves with { code, signal }. */
  async stop(graceMs = 10_000) {
    if (!this.alive) return this.exit;
    this.child.kill('SIGTERM');
    const killer = setTimeout(() => this.child.kill('SIGKILL'), graceMs);
    const result = await this.exited;
    clearTimeout(killer);
    return result;
  }
}

const TCP_STATES = { '01': 'ESTABLISHED', '02': 'SYN_SENT', '03': 'SYN_RECV', '04': 'FIN_WAIT1',
  '05': 'FIN_WAIT2', '06': 'TIME_WAIT', '07': 'CLOSE', '08': 'CLOSE_WAIT', '09': 'LAST_ACK', '0A': 'LISTEN',
  '0B': 'CLOSING' };

/** TCP sockets by inode from /proc/net/tcp{,6}: Map(inode → { state, local, remote }). */
export function tcpSockets() {
  const sockets = new Map();
  const port = (address) => parseInt(address.split(':')[1], 16);
  for (const table of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let lines = [];
    try { lines = readFileSync(table, 'utf8').split('\n').slice(1); } catch { continue; }
    for (const line of lines) {
      const f = line.trim().split(/\s+/);  // sl local remote st tx:rx tr:when retrnsmt uid timeout inode
      if (f.length < 10) continue;
      sockets.set(f[9], { state: TCP_STATES[f[3]] ?? f[3], local: port(f[1]), remote: port(f[2]) });
    }
  }
  return sockets;
}

/** The TCP port `pid` listens on, or null: its socket inodes against /proc/net/tcp{,6}. */
function listeningPortOf(pid) {
  let targets;
  try {
    targets = readdirSync(`/proc/${pid}/fd`).map((fd) => {
      try { return readlinkSync(`/proc/${pid}/fd/${fd}`); } catch { return ''; }
    });
  } catch {
    return null;
  }
  const sockets = tcpSockets();
  for (const target of targets) {
    const socket = sockets.get(/^socket:\[(\d+)\]$/.exec(target)?.[1]);
    if (socket?.state === 'LISTEN') return socket.local;
  }
  return null;
}
