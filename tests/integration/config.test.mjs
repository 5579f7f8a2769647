// Settings of `hibiki echo` / `hibiki chat` from a TOML file (--config), the environment
// (HIBIKI_<OPTION>) and flags, in that order of precedence; --print-config; errors.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, describe, test } from 'node:test';
import {
  Client, HOST, WEB_ROOT, freePort, hibikiBin, startServer, stopServer,
} from './lib/server.mjs';

const dir = mkdtempSync(join(tmpdir(), 'hibiki-config-'));
let files = 0;
function configFile(text) {
  const path = join(dir, `config-${++files}.toml`);
  writeFileSync(path, text);
  return path;
}

// The environment without any HIBIKI_* setting of the test runner's own.
function cleanEnv(extra = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) if (!k.startsWith('HIBIKI_')) env[k] = v;
  return { ...env, ...extra };
}

function run(args, env = {}) {
  const result = spawnSync(hibikiBin(), args, { env: cleanEnv(env), encoding: 'utf8', timeout: 10_000 });
  return { status: result.status, stdout: result.stdout, stderr: result.stderr };
}

async function sendAndClose(server, size) {
  const c = await Client.connect(server.wsUrl);
  try {
    await c.send('x'.repeat(size));
    return c;
  } catch (err) {
    await c.dispose();
    throw err;
  }
}

describe('config file, environment and flags', { timeout: 60_000 }, () => {
  const servers = [];
  after(async () => {
    await Promise.all(servers.map(stopServer));
    rmSync(dir, { recursive: true, force: true });
  });

  test('a file sets the port and max-message, and the server obeys them', async () => {
    const port = await freePort();
    const path = configFile(`# echo for the test\nhost = "${HOST}"\nport = ${port}\nmax-message = 100\n`);
    const server = await startServer('echo', { argv: ['--config', path], env: cleanEnv() });
    servers.push(server);
    assert.equal(server.port, port);
    const ok = await Client.connect(server.wsUrl);
    await ok.send('y'.repeat(100));
    assert.equal(await ok.nextText(), 'y'.repeat(100));
    await ok.dispose();
    const c = await sendAndClose(server, 101);
    assert.equal((await c.waitClosed()).code, 1009);
  });

  test('the environment overrides the file', async () => {
    const [filePort, envPort] = [await freePort(), await freePort()];
    const path = configFile(`host = "${HOST}"\nport = ${filePort}\nmax-message = 100\n`);
    const server = await startServer('echo', {
      argv: ['--config', path],
      env: cleanEnv({ HIBIKI_PORT: String(envPort), HIBIKI_MAX_MESSAGE: '50' }),
    });
    servers.push(server);
    assert.equal(server.port, envPort);
    const c = await sendAndClose(server, 60);
    assert.equal((await c.waitClosed()).code, 1009);
  });

  test('a flag overrides the environment', async () => {
    const [envPort, flagPort] = [await freePort(), await freePort()];
    const path = configFile(`host = "${HOST}"\nmax-message = 10\n`);
    const server = await startServer('echo', {
      argv: ['--config', path, '--port', String(flagPort), '--max-message', '1000'],
      env: cleanEnv({ HIBIKI_PORT: String(envPort), HIBIKI_MAX_MESSAGE: '20' }),
    });
    servers.push(server);
    assert.equal(server.port, flagPort);
    const c = await Client.connect(server.wsUrl);
    await c.send('z'.repeat(500));
    assert.equal(await c.nextText(), 'z'.repeat(500));
    await c.dispose();
  });

  test('chat options come from the file and the environment too', async () => {
    const path = configFile(`host = "${HOST}"\nport = 0\nweb-root = "${WEB_ROOT}"\ndb = ":memory:"\n`
      + 'history = 7\nlog-format = "json"\n');
    const server = await startServer('chat', {
      argv: ['--config', path], env: cleanEnv({ HIBIKI_MAX_ROOMS: '3' }),
    });
    servers.push(server);
    const listening = server.stderr.split('\n').find((l) => l.includes('listening on'));
    assert.equal(JSON.parse(listening).level, 'info');
    const printed = run(['chat', '--config', path, '--print-config'], { HIBIKI_MAX_ROOMS: '3' });
    assert.equal(printed.status, 0, printed.stderr);
    const lines = printed.stdout.split('\n');
    assert.ok(lines.includes(`${'history = 7'.padEnd(40)}# ${path}:5`), printed.stdout);
    assert.ok(lines.includes(`${'max-rooms = 3'.padEnd(40)}# env HIBIKI_MAX_ROOMS`), printed.stdout);
  });

  test('--print-config prints every setting and where it came from, then exits 0', () => {
    const path = configFile('port = 7000\n\nmax-message = 1000\nallowed-origin = ["https://a.example"]\n'
      + 'idle-timeout = 30\n');
    const { status, stdout, stderr } = run(
      ['echo', '--config', path, '--print-config', '--host', '::1', '--idle-timeout', '2.5'],
      { HIBIKI_MAX_MESSAGE: '2000', HIBIKI_COMPRESSION: 'off', HIBIKI_NOT_AN_OPTION: 'x' },
    );
    assert.equal(stderr, '');
    assert.equal(status, 0);
    const line = (setting, source) => `${setting.padEnd(39)} # ${source}`;
    assert.deepEqual(stdout.split('\n'), [
      '# hibiki echo: settings in effect (flag > environment HIBIKI_* > file > default)',
      line('threads = 0', 'default'),
      line('host = "::1"', 'flag'),
      line('io = "auto"', 'default'),
      line('port = 7000', `${path}:1`),
      line('max-message = 2000', 'env HIBIKI_MAX_MESSAGE'),
      line('max-buffered = 41943040', 'default'),
      line('backpressure = "close"', 'default'),
      line('max-connections = 100000', 'default'),
      line('max-connections-per-ip = 1024', 'default'),
      line('max-messages-per-second = 0', 'default'),
      line('max-header-bytes = 8192', 'default'),
      line('handshake-timeout = 10', 'default'),
      line('idle-timeout = 2.5', 'flag'),
      line('close-timeout = 5', 'default'),
      line('allowed-origin = ["https://a.example"]', `${path}:4`),
      line('compression = "off"', 'env HIBIKI_COMPRESSION'),
      line('compression-threshold = 64', 'default'),
      line('compression-window-bits = 15', 'default'),
      line('# tls-cert is not set', 'default'),
      line('# tls-key is not set', 'default'),
      line('http2 = "on"', 'default'),
      line('tls-handshake-timeout = 10', 'default'),
      line('log-level = "info"', 'default'),
      line('log-format = "text"', 'default'),
      '',
    ]);
  });

  test('the printed configuration reads back as a config file', () => {
    const first = run(['echo', '--print-config', '--port', '1234', '--backpressure', 'drop']);
    assert.equal(first.status, 0, first.stderr);
    const path = configFile(first.stdout);
    const second = run(['echo', '--config', path, '--print-config']);
    assert.equal(second.status, 0, second.stderr);
    const settings = (text) => text.split('\n').map((l) => l.split('#')[0].trim()).filter(Boolean);
    assert.deepEqual(settings(second.stdout), settings(first.stdout));
  });

  test('an unknown key names the file, the line and the key; exit 2', () => {
    const path = configFile('port = 1\nprot = 2\n');
    assert.deepEqual(run(['echo', '--config', path]), {
      status: 2,
      stdout: '',
      stderr: `hibiki echo: ${path}:2: prot: unknown key (keys are the long names of the flags of `
        + 'hibiki echo, see --help)\n',
    });
    const chatOnly = configFile('\nhistory = 5\n');
    assert.equal(run(['echo', '--config', chatOnly]).stderr,
      `hibiki echo: ${chatOnly}:2: history: unknown key (keys are the long names of the flags of `
        + 'hibiki echo, see --help)\n');
    const underscore = configFile('max_message = 5\n');
    assert.equal(run(['chat', '--config', underscore]).stderr,
      `hibiki chat: ${underscore}:1: max_message: unknown key (did you mean max-message? keys are `
        + 'the flags\' long names, with \'-\')\n');
  });

  test('a bad value names the file, the line and the key; exit 2', () => {
    const path = configFile('port = 1\nmax-message = 0\n');
    assert.deepEqual(run(['echo', '--config', path]), {
      status: 2,
      stdout: '',
      stderr: `hibiki echo: ${path}:2: max-message: Value 0 not in range 1 to 2147483648\n`,
    });
    const typed = configFile('port = "8080"\n');
    assert.deepEqual(run(['chat', '--config', typed]), {
      status: 2,
      stdout: '',
      stderr: `hibiki chat: ${typed}:1: port: expected a number, not a string\n`,
    });
    const redis = configFile('\n\nredis = "http://x"\n');
    const bad = run(['chat', '--config', redis]);
    assert.equal(bad.status, 2);
    assert.match(bad.stderr, new RegExp(`^hibiki chat: ${redis}:3: redis: not a Redis URL[^\\n]*\\n$`));
    const missing = join(dir, 'missing.toml');
    assert.deepEqual(run(['echo', '--config', missing]), {
      status: 2,
      stdout: '',
      stderr: `hibiki echo: ${missing}: cannot be read (No such file or directory)\n`,
    });
  });

  test('a bad environment value names the variable; exit 2', () => {
    assert.deepEqual(run(['echo'], { HIBIKI_MAX_MESSAGE: 'lots' }), {
      status: 2,
      stdout: '',
      // the same words as for --max-message lots: the option's own validator
      stderr: 'hibiki echo: environment HIBIKI_MAX_MESSAGE: max-message: Value lots not in range 1 '
        + 'to 2147483648\n',
    });
    assert.deepEqual(run(['chat', '--print-config'], { HIBIKI_LOG_FORMAT: 'xml' }), {
      status: 2,
      stdout: '',
      stderr: 'hibiki chat: environment HIBIKI_LOG_FORMAT: log-format: xml not in {text,json}\n',
    });
    assert.deepEqual(run(['echo'], { HIBIKI_HOST: 'a\nb', HIBIKI_PORT: '99999' }), {
      status: 2,
      stdout: '',
      stderr: 'hibiki echo: environment HIBIKI_PORT: port: "99999" is not a valid UINT\n',
    });
  });
});
