// Echo over one HTTP/2 connection with S WebSocket streams (RFC 8441) against S HTTP/1.1 wss
// connections, side by side: the server's CPU per message (from /proc/PID/stat) and its memory
// per WebSocket (VmRSS after opening them minus before). wsload does not speak h2, hence this
// script. Each round starts a fresh `hibiki echo` with TLS for each mode, the modes alternating
// which goes first; the machine is noisy, so it prints every round, then medians and ratios.
// Loopback only; bounded by its arguments. Never part of the test run.
//   node bench/h2_echo.mjs [ROUNDS=5] [S=100] [MESSAGES=20000] [BYTES=64] [CORE=0]
//   HIBIKI_BIN=build/release/hibiki by default; the server is pinned to CORE with taskset.
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import http2 from 'node:http2';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import WebSocket from 'ws';
import { frame, openWebSocket } from '../tests/integration/lib/h2ws.mjs';

const [rounds, streams, messages, bytes, core] = [5, 100, 20000, 64, 0].map(
  (fallback, i) => Number(process.argv[2 + i] ?? fallback));
const bin = process.env.HIBIKI_BIN || resolve('build/release/hibiki');
const ticksPerSecond = 100;  // USER_HZ

const dir = mkdtempSync(join(tmpdir(), 'hibiki-h2-bench-'));
const cert = join(dir, 'cert.pem');
const key = join(dir, 'key.pem');
execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1',
  '-days', '1', '-nodes', '-subj', '/CN=localhost', '-addext', 'subjectAltName=DNS:localhost',
  '-keyout', key, '-out', cert], { stdio: 'ignore' });
const ca = readFileSync(cert);

const cpuSeconds = (pid) => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
};
const rssKiB = (pid) => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))[1]);
const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

async function startServer() {
  const child = spawn('taskset', ['-c', String(core), bin, 'echo', '--host', '127.0.0.1',
    '--port', '0', '--tls-cert', cert, '--tls-key', key, '--max-message', '1048576'],
  { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const port = await new Promise((res, rej) => {
    child.stderr.setEncoding('utf8').on('data', (d) => {
      log += d;
      const m = /listening on https:\/\/[^:]+:(\d+)/.exec(log);
      if (m) res(Number(m[1]));
    });
    child.once('exit', (code) => rej(new Error(`hibiki exited ${code}: ${log}`)));
  });
  return { child, port, pid: child.pid };
}

async function stopServer(server) {
  const exited = new Promise((r) => server.child.once('exit', r));
  server.child.kill('SIGTERM');
  await exited;
}

// Each socket keeps one message in flight: send, wait for its echo, send again.
async function pingPong(sockets, total) {
  const payload = Buffer.alloc(bytes, 0x61);
  let sent = 0;
  let received = 0;
  await new Promise((done) => {
    for (const s of sockets) {
      s.onEcho(() => {
        received += 1;
        if (received === total) done();
        else if (sent < total) { sent += 1; s.send(payload); }
      });
    }
    for (const s of sockets) {
      if (sent < total) { sent += 1; s.send(payload); }
    }
  });
}

async function h2Sockets(port) {
  const session = http2.connect(`https://localhost:${port}`, { ca });
  await new Promise((res) => session.once('remoteSettings', res));
  const sockets = [];
  for (let i = 0; i < streams; ++i) {
    const ws = await openWebSocket(session, '/');
    if (ws.status !== 200) throw new Error(`CONNECT answered ${ws.status}`);
    let onEcho = () => {};
    // The helper's parser delivers whole messages; a pump per stream waits for each.
    (async () => {
      for (;;) {
        try { await ws.next(60_000); } catch { return; }
        onEcho();
      }
    })();
    sockets.push({ send: (p) => ws.stream.write(frame(0x2, p)), onEcho: (f) => { onEcho = f; } });
  }
  return { sockets, close: () => session.destroy() };
}

async function h1Sockets(port) {
  const sockets = await Promise.all(Array.from({ length: streams }, () => new Promise((res, rej) => {
    const ws = new WebSocket(`wss://localhost:${port}/`, { ca, perMessageDeflate: false });
    ws.once('open', () => res(ws));
    ws.once('error', rej);
  })));
  return {
    sockets: sockets.map((ws) => ({ send: (p) => ws.send(p), onEcho: (f) => ws.on('message', f) })),
    close: () => sockets.forEach((ws) => ws.terminate()),
  };
}

async function measure(mode) {
  const server = await startServer();
  try {
    await sleep(200);
    const rssBefore = rssKiB(server.pid);
    const { sockets, close } = await (mode === 'h2' ? h2Sockets : h1Sockets)(server.port);
    await pingPong(sockets, streams * 10);  // warm-up: every socket's buffers in use once
    await sleep(200);
    const rssAfter = rssKiB(server.pid);
    const cpuBefore = cpuSeconds(server.pid);
    const started = process.hrtime.bigint();
    await pingPong(sockets, messages);
    const seconds = Number(process.hrtime.bigint() - started) / 1e9;
    const cpu = cpuSeconds(server.pid) - cpuBefore;
    close();
    return {
      mode,
      cpu_us_per_message: Number((cpu * 1e6 / messages).toFixed(2)),
      messages_per_s: Math.round(messages / seconds),
      kib_per_websocket: Number(((rssAfter - rssBefore) / streams).toFixed(1)),
    };
  } finally {
    await stopServer(server);
  }
}

const median = (values) => {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 ? sorted[mid] : (sorted[mid - 1] + sorted[mid]) / 2;
};

const results = { h2: [], h1: [] };
try {
  for (let round = 0; round < rounds; ++round) {
    for (const mode of round % 2 ? ['h1', 'h2'] : ['h2', 'h1']) {
      const r = await measure(mode);
      results[mode].push(r);
      console.log(JSON.stringify({ round, ...r }));
    }
  }
  const summary = {};
  for (const mode of ['h2', 'h1']) {
    summary[mode] = {
      cpu_us_per_message: median(results[mode].map((r) => r.cpu_us_per_message)),
      messages_per_s: median(results[mode].map((r) => r.messages_per_s)),
      kib_per_websocket: median(results[mode].map((r) => r.kib_per_websocket)),
    };
  }
  summary.ratio_h2_over_h1 = {
    cpu_per_message: Number((summary.h2.cpu_us_per_message / summary.h1.cpu_us_per_message).toFixed(2)),
    memory_per_websocket: Number((summary.h2.kib_per_websocket / summary.h1.kib_per_websocket).toFixed(2)),
  };
  console.log(JSON.stringify({ streams, messages, bytes, rounds, medians: summary }, null, 1));
} finally {
  rmSync(dir, { recursive: true, force: true });
}
