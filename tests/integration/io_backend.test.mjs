// The I/O backend: --io, the io key of a config file and HIBIKI_IO pick it; the start log and
// /metrics say which one runs; echo works the same on both; a bad name is refused.
import { after, describe, test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';

import { Client, HOST, hibikiBin, startServer, stopServer } from './lib/server.mjs';

const dir = mkdtempSync(join(tmpdir(), 'hibiki-io-'));

// The HIBIKI_* variables of the test run (HIBIKI_IO from test.sh) removed, `extra` added.
function withoutHibikiEnv(extra = {}) {
  const env = {};
  for (const k of Object.keys(process.env)) if (k.startsWith('HIBIKI_') && k !== 'HIBIKI_BIN') env[k] = null;
  return { ...env, ...extra };
}

// The same for spawnSync, which would pass a null as the text "null".
function processEnv(extra = {}) {
  return Object.fromEntries(Object.entries(withoutHibikiEnv(extra)).filter(([, v]) => v !== null));
}

async function metric(server, name) {
  const response = await fetch(`${server.url}/metrics`);
  const text = await response.text();
  const match = new RegExp(`^${name} (\\d+)$`, 'm').exec(text);
  assert.ok(match, text);
  return Number(match[1]);
}

async function echoes(server) {
  const client = await Client.connect(server.wsUrl);
  try {
    const big = 'b'.repeat(200_000);  // many receive buffers and several sends
    await client.send('small');
    await client.send(big);
    assert.equal(await client.nextText(), 'small');
    assert.equal(await client.nextText(), big);
  } finally {
    await client.dispose();
  }
}

describe('I/O backend choice', { timeout: 60_000 }, () => {
  const servers = [];
  after(async () => {
    await Promise.all(servers.map(stopServer));
    rmSync(dir, { recursive: true, force: true });
  });

  for (const io of ['epoll', 'io_uring']) {
    test(`--io ${io}: logged, counted in /metrics, and echo works`, async () => {
      const server = await startServer('echo', {
        extraArgs: ['--io', io, '--threads', '2'], env: withoutHibikiEnv(),
      });
      servers.push(server);
      assert.match(server.stderr, new RegExp(`I/O backend: ${io} \\(as configured\\)`));
      assert.equal(await metric(server, 'hibiki_io_uring_loops'), io === 'io_uring' ? 2 : 0);
      await echoes(server);
    });
  }

  test('HIBIKI_IO and the config file key io pick it too, the flag above both', async () => {
    const path = join(dir, 'io.toml');
    writeFileSync(path, `host = "${HOST}"\nport = 0\nio = "epoll"\nthreads = 1\n`);
    const fromFile = await startServer('echo', { argv: ['--config', path], env: withoutHibikiEnv() });
    servers.push(fromFile);
    assert.equal(await metric(fromFile, 'hibiki_io_uring_loops'), 0);
    const fromEnv = await startServer('echo', {
      argv: ['--config', path], env: withoutHibikiEnv({ HIBIKI_IO: 'io_uring' }),
    });
    servers.push(fromEnv);
    assert.equal(await metric(fromEnv, 'hibiki_io_uring_loops'), 1);
    const fromFlag = await startServer('echo', {
      argv: ['--config', path, '--io', 'epoll'], env: withoutHibikiEnv({ HIBIKI_IO: 'io_uring' }),
    });
    servers.push(fromFlag);
    assert.equal(await metric(fromFlag, 'hibiki_io_uring_loops'), 0);
  });

  test('auto takes io_uring on this kernel and says so', async () => {
    const server = await startServer('echo', { extraArgs: ['--io', 'auto'], env: withoutHibikiEnv() });
    servers.push(server);
    assert.match(server.stderr, /I\/O backend: io_uring \(auto: the kernel allows it\)/);
    await echoes(server);
  });

  test('an unknown backend is refused, from the flag (as every option) and from HIBIKI_IO', () => {
    const flag = spawnSync(hibikiBin(), ['echo', '--io', 'kqueue'],
      { env: processEnv(), encoding: 'utf8', timeout: 10_000 });
    assert.notEqual(flag.status, 0);  // CLI11's status for a value outside a set
    assert.match(flag.stderr, /--io: kqueue not in \{auto,epoll,io_uring\}/);
    const variable = spawnSync(hibikiBin(), ['echo'],
      { env: processEnv({ HIBIKI_IO: 'select' }), encoding: 'utf8', timeout: 10_000 });
    assert.equal(variable.status, 2);
    assert.equal(variable.stderr,
      'hibiki echo: environment HIBIKI_IO: io: select not in {auto,epoll,io_uring}\n');
  });
});
