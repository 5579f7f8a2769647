// Command-line options of the soak test: `--name value` pairs, each bounded so a typo cannot
// start an unbounded run.
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import { REPO_ROOT } from '../../integration/lib/server.mjs';

const SPEC = {
  minutes: { def: 10, min: 0.5, max: 120, help: 'length of the load phase' },
  connections: { def: 2000, min: 10, max: 20000, help: 'well-behaved clients kept connected' },
  rooms: { def: 40, min: 1, max: 500, help: 'chat rooms (room-00 …)' },
  'rooms-per-client': { def: 3, min: 1, max: 9, help: 'rooms each well-behaved client is in' },
  'msg-per-min': { def: 3, min: 0.1, max: 600, help: 'messages each well-behaved client sends per minute' },
  'churn-per-min': { def: 10, min: 0, max: 100, help: '% of the well-behaved clients replaced per minute' },
  'switch-per-min': { def: 0.5, min: 0, max: 60, help: 'room switches (leave one, join another) per client per minute' },
  misbehaving: { def: 20, min: 0, max: 1000, help: 'misbehaving clients running at any moment' },
  deflate: { def: 0.25, min: 0, max: 1, help: 'fraction of well-behaved clients using permessage-deflate' },
  'ramp-per-sec': { def: 200, min: 1, max: 5000, help: 'new connections per second while filling up' },
  'sample-sec': { def: 10, min: 1, max: 600, help: 'seconds between samples' },
  'warmup-min': { def: null, min: 0, max: 60, help: 'minutes excluded from the RSS check (default: 20% of --minutes, at least 1)' },
  'server-cpus': { def: null, text: true, help: 'run hibiki under `taskset -c LIST` (e.g. 0)' },
  bin: { def: null, text: true, help: 'hibiki binary (default: $HIBIKI_BIN or build/release/hibiki)' },
};

export function usage() {
  const lines = Object.entries(SPEC).map(([name, s]) =>
    `  --${name.padEnd(18)} ${s.help}${s.def === null ? '' : ` (default ${s.def})`}`);
  return `usage: node tests/soak/soak.mjs [options]\n${lines.join('\n')}\n`;
}

/** Parses argv into an object with camelCase keys; throws with a readable message. */
export function parseOptions(argv) {
  const values = Object.fromEntries(Object.entries(SPEC).map(([k, s]) => [k, s.def]));
  for (let i = 0; i < argv.length; i += 2) {
    const name = argv[i].replace(/^--/, '');
    const spec = SPEC[name];
    if (!argv[i].startsWith('--') || !spec) throw new Error(`unknown option ${argv[i]}`);
    if (i + 1 >= argv.length) throw new Error(`--${name} needs a value`);
    values[name] = spec.text ? argv[i + 1] : boundedNumber(name, argv[i + 1], spec);
  }
  const opts = Object.fromEntries(Object.entries(values).map(([k, v]) => [camel(k), v]));
  opts.warmupMin ??= Math.max(1, opts.minutes * 0.2);
  opts.bin ??= process.env.HIBIKI_BIN || join(REPO_ROOT, 'build/release/hibiki');
  if (!existsSync(opts.bin)) throw new Error(`hibiki binary not found at ${opts.bin} (scripts/build.sh release)`);
  if (opts.roomsPerClient > opts.rooms) throw new Error('--rooms-per-client is larger than --rooms');
  return opts;
}

function boundedNumber(name, text, { min, max }) {
  const n = Number(text);
  if (!Number.isFinite(n) || n < min || n > max) throw new Error(`--${name} must be a number in [${min}, ${max}]`);
  return n;
}

const camel = (name) => name.replace(/-(\w)/g, (_, c) => c.toUpperCase());
