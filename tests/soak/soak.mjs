#!/usr/bin/env node
// Soak test of `hibiki chat`: thousands of clients joining, chatting, misbehaving and leaving
// for N minutes against one server on loopback, then checks that the server survived, kept
// its memory flat, delivered every message exactly once and in order, and gave back every
// descriptor. Not part of scripts/test.sh; see tests/soak/README.md. Exit 0 only if every
// check passes.
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { monitorEventLoopDelay } from 'node:perf_hooks';
import { Ledger } from './lib/ledger.mjs';
import { MisbehaverPool } from './lib/misbehavers.mjs';
import { parseOptions, usage } from './lib/options.mjs';
import { Population, Stats } from './lib/population.mjs';
import { ServerProcess, tcpSockets } from './lib/server-process.mjs';
import { checks, median, mib, printChecks, rssCheck } from './lib/verdict.mjs';

const SETTLE_MS = 60_000;         // for outstanding echoes, then for the server to let go
const WATCHDOG_EXTRA_MIN = 10;    // the whole run is bounded by --minutes + this

const sleep = (ms) => new Promise((r) => setTimeout(r, ms));

/** Polls `condition` (may be async) until true or `ms` passed; returns its last value. */
async function waitUntil(condition, ms, stepMs = 250) {
  const deadline = Date.now() + ms;
  for (;;) {
    const ok = await condition();
    if (ok || Date.now() >= deadline) return ok;
    await sleep(stepMs);
  }
}

function serverArgs(dbPath) {
  return [
    '--host', '127.0.0.1', '--port', '0', '--db', dbPath, '--log-level', 'warn',
    // Well-behaved clients must never be limited: the per-connection rate limit is off, and all
    // of them come from 127.0.0.1, so the per-IP connection limit is off too.
    '--rate-limit', '0', '--max-connections-per-ip', '0',
  ];
}

/** Samples the server and the load every --sample-sec seconds and prints one line each. */
class Sampler {
  constructor(server, world, population, misbehavers) {
    Object.assign(this, { server, world, population, misbehavers });
    this.samples = [];
    this.lag = monitorEventLoopDelay({ resolution: 20 });
    this.lag.enable();
  }

  async sample(t) {
    const health = await this.server.healthz();
    const s = {
      t,
      rss: this.server.rssBytes(),
      fds: this.server.openFds(),
      conns: health?.connections ?? null,
      rooms: health?.rooms ?? null,
      clients: this.population.live.size,
      published: this.world.ledger.published(),
      frames: this.world.stats.liveFrames,
      misbehaved: this.misbehavers.done,
      lagMs: this.lag.percentile(99) / 1e6,
    };
    this.lag.reset();
    this.samples.push(s);
    console.log(`[${String(Math.round(t)).padStart(5)} s] rss ${s.rss === null ? '-' : mib(s.rss)} MiB  ` +
      `fds ${s.fds ?? '-'}  conns ${s.conns ?? '-'}  rooms ${s.rooms ?? '-'}  clients ${s.clients}  ` +
      `published ${s.published}  delivered ${s.frames}  misbehaved ${s.misbehaved}  ` +
      `load p99 lag ${s.lagMs.toFixed(0)} ms`);
    return s;
  }
}

async function main() {
  if (process.argv.includes('--help')) {
    process.stdout.write(usage());
    return 0;
  }
  const opts = parseOptions(process.argv.slice(2));
  const dir = mkdtempSync(join(tmpdir(), 'hibiki-soak-'));
  const server = await ServerProcess.start(opts.bin, serverArgs(join(dir, 'soak.db')), { cpus: opts.serverCpus });
  const watchdog = setTimeout(() => {
    console.error('soak: watchdog fired, the run took too long');
    server.stop(1000).finally(() => process.exit(3));
  }, (opts.minutes + WATCHDOG_EXTRA_MIN) * 60_000);
  try {
    return await soak(opts, server);
  } finally {
    clearTimeout(watchdog);
    await server.stop();
    rmSync(dir, { recursive: true, force: true });
  }
}

async function soak(opts, server) {
  console.log(`soak: ${server.commandLine} (pid ${server.pid}, port ${server.port})`);
  console.log(`soak: ${opts.minutes} min, ${opts.connections} well-behaved clients in ${opts.rooms} rooms ` +
    `(${opts.roomsPerClient} each, ${opts.msgPerMin} msg/min, ${opts.churnPerMin}%/min churn, ` +
    `${opts.switchPerMin} switches/min, ${Math.round(opts.deflate * 100)}% deflate), ` +
    `${opts.misbehaving} misbehaving at a time; warm-up ${opts.warmupMin} min`);
  await sleep(500);
  const baseline = { fds: server.openFds(), rss: server.rssBytes(), fdTargets: server.fdTargets(),
    conns: (await server.healthz())?.connections ?? null };
  console.log(`soak: baseline ${baseline.fds} fds, ${baseline.conns} connection(s) (/healthz), ` +
    `rss ${mib(baseline.rss)} MiB`);

  const roomNames = Array.from({ length: opts.rooms }, (_, i) => `room-${String(i).padStart(2, '0')}`);
  const world = { opts, wsUrl: server.wsUrl, roomNames, ledger: new Ledger(), stats: new Stats(), sending: true };
  const population = new Population(world);
  const misbehavers = new MisbehaverPool({ port: server.port, wsUrl: server.wsUrl, roomNames }, opts.misbehaving);
  const sampler = new Sampler(server, world, population, misbehavers);

  const crashedDuringLoad = !(await runLoad(opts, server, population, misbehavers, sampler));
  console.log('soak: load stopped; waiting for echoes, then every client leaves');
  await misbehavers.stop();
  world.sending = false;
  await waitUntil(() => population.outstanding === 0, SETTLE_MS);
  await population.retireAll();

  const settled = await settle(server, baseline);
  const cpu = server.cpuSeconds();
  const peakFds = Math.max(...sampler.samples.map((s) => s.fds ?? 0));
  const exit = crashedDuringLoad ? server.exit : await server.stop();
  return report({
    opts, server, world, misbehavers, sampler, crashedDuringLoad, exit, cpu, baseline,
    fds: { baseline: baseline.fds, peak: peakFds, final: settled.fds },
    conns: { baseline: baseline.conns, final: settled.conns },
  });
}

/** The load phase; returns false if the server died during it. */
async function runLoad(opts, server, population, misbehavers, sampler) {
  const started = Date.now();
  const elapsed = () => (Date.now() - started) / 1000;
  misbehavers.start();
  let nextSample = 0;
  let lastTick = 0;
  while (elapsed() < opts.minutes * 60 && server.alive) {
    const now = elapsed();
    population.tick(Math.max(now - lastTick, 1));  // churn follows real time, ramp ≥ 1 s worth
    lastTick = now;
    if (elapsed() >= nextSample) {
      nextSample += opts.sampleSec;
      await sampler.sample(elapsed());
    }
    await sleep(1000);
  }
  if (!server.alive) console.log(`soak: SERVER DIED during the load: ${JSON.stringify(server.exit)}`);
  return server.alive;
}

/** After everyone left: waits until the server is back to its baseline (or SETTLE_MS). */
async function settle(server, baseline) {
  const started = Date.now();
  let last = { fds: null, conns: null, fdTargets: [] };
  await waitUntil(async () => {
    // Descriptors first: the /healthz request below holds a socket for a moment itself.
    const fdTargets = server.fdTargets();
    last = { fds: server.alive ? fdTargets.length : null, fdTargets,
      conns: (await server.healthz())?.connections ?? null };
    return last.conns === baseline.conns && last.fds !== null && last.fds <= baseline.fds;
  }, SETTLE_MS, 500);
  console.log(`soak: after disconnect (${((Date.now() - started) / 1000).toFixed(1)} s to settle) ${last.fds} fds, ` +
    `${last.conns} connection(s), rss ${mib(server.rssBytes() ?? 0)} MiB`);
  console.log(`soak: descriptors not open at the baseline: ${describeNewFds(baseline.fdTargets, last.fdTargets)}`);
  return last;
}

// Descriptors open now that were not at the baseline; sockets are described by their TCP
// state and ports (SQLite may also have opened its -wal and -shm files at the first write).
function describeNewFds(before, after) {
  const remaining = [...before];
  const added = after.filter((t) => {
    const i = remaining.indexOf(t);
    if (i < 0) return true;
    remaining.splice(i, 1);
    return false;
  });
  const tcp = tcpSockets();
  const described = added.map((target) => {
    const socket = tcp.get(/^socket:\[(\d+)\]$/.exec(target)?.[1]);
    return socket ? `tcp ${socket.state} :${socket.local} ↔ :${socket.remote}` : target;
  });
  return described.length ? described.join(', ') : 'none';
}

function report({ opts, server, world, misbehavers, sampler, crashedDuringLoad, exit, cpu, baseline, fds, conns }) {
  const { stats, ledger } = world;
  const { totals } = ledger;
  const rss = rssCheck(sampler.samples, opts.warmupMin * 60);
  const misbehaverRows = misbehavers.rows();
  printServerFigures(opts, sampler.samples, cpu, baseline);
  console.log('\nwell-behaved clients:');
  console.log(`  connected ${stats.started} (peak ${opts.connections} at once), retired cleanly ${stats.retired}, ` +
    `room switches ${stats.switches}`);
  console.log(`  messages published ${ledger.published()} (sent ${stats.sent}, echoed ${stats.acked}, never seen by anyone ${ledger.unseen()})`);
  console.log(`  deliveries expected ${totals.expected}, delivered ${totals.delivered}, missing ${totals.missing}, ` +
    `duplicates ${totals.duplicates}, out of order ${totals.outOfOrder}; room stays checked ${totals.sessions}, ` +
    `cut short ${totals.lostSessions}; talk-shaped frames before hello ${stats.talkShaped}`);
  console.log(`\nmisbehaving clients (${misbehavers.done} in all):`);
  for (const r of misbehaverRows) console.log(`  ${r.expected ? ' ' : '!'} ${r.kind.padEnd(40)} ${String(r.count).padStart(6)} × ${r.outcome}`);
  for (const [name, f] of misbehavers.figures) console.log(`    ${name}: min ${f.min.toFixed(1)}, max ${f.max.toFixed(1)} (${f.n})`);
  console.log(`\nserver log (--log-level warn): ${server.logLineCount} line(s)`);
  for (const line of server.logLines.slice(0, 10)) console.log(`  ${line}`);
  const list = checks({ crashedDuringLoad, exit, rss, fds, conns, totals, stats,
    published: ledger.published(), misbehaverRows });
  return printChecks(list) ? 0 : 1;
}

function printServerFigures(opts, samples, cpu, baseline) {
  const after = samples.filter((s) => s.t >= opts.warmupMin * 60 && s.rss !== null).map((s) => s.rss);
  const load = samples.filter((s) => s.t > 0);
  console.log('\nserver:');
  if (after.length) {
    console.log(`  rss: baseline ${mib(baseline.rss)} MiB; after warm-up (${after.length} samples) min ` +
      `${mib(Math.min(...after))}, median ${mib(median(after))}, max ${mib(Math.max(...after))} MiB`);
  }
  if (load.length) {
    const fds = load.map((s) => s.fds ?? 0);
    console.log(`  fds during the load: min ${Math.min(...fds)}, max ${Math.max(...fds)}`);
  }
  if (cpu !== null) console.log(`  cpu: ${cpu.toFixed(1)} s user+system over the run`);
  console.log(`  load generator event-loop lag p99: max ${Math.max(0, ...load.map((s) => s.lagMs)).toFixed(0)} ms over the samples`);
}

main().then((code) => process.exit(code), (err) => {
  console.error(`soak: ${err.stack ?? err}`);
  process.exit(2);
});
