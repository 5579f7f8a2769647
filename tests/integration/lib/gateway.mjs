// Helpers for the gateway's black-box tests: start `hibiki gateway` with a TOML file written to a
// temporary directory, a Node HTTP backend that records every event the gateway POSTs and
// answers as each test says, the PHP example backend behind `php -S`, free ports, and small
// fetch/`ws` wrappers. Everything listens on 127.0.0.1 and every wait is bounded.
import { execFileSync, spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import net from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import WebSocket from 'ws';
import {
  DEFAULT_TIMEOUT, HOST, REPO_ROOT, eventually, freePort, hibikiBin, sleep, stopServer, withTimeout,
} from './server.mjs';

export { eventually, freePort };

const STARTUP_TIMEOUT = 10_000;
const GATEWAY_LISTENING_RE =
  /hibiki gateway listening on (https?):\/\/127\.0\.0\.1:(\d+) \(WebSocket and page\), management API on (https?):\/\/127\.0\.0\.1:(\d+)/;

export const PHP_EXAMPLE = join(REPO_ROOT, 'examples/php-chat');

/** A fresh temporary directory; `cleanup()` removes it. */
export function tempDir(prefix = 'hibiki-gw-') {
  const path = mkdtempSync(join(tmpdir(), prefix));
  return { path, cleanup: () => rmSync(path, { recursive: true, force: true }) };
}

/** A TOML basic string: quotes and backslashes escaped. */
export function tomlString(text) {
  return JSON.stringify(text);
}

/**
 * Renders a gateway config. `gateway` and `management` are key → value maps (strings quoted,
 * numbers and booleans as they are); `routes` maps a route key to { integration, timeout_ms,
 * route_response }; `tls` and `managementTls` ({ cert, key }) become [tls] and [management.tls];
 * `authorizer`, when given, is the [authorizer] section's key → value map (arrays of strings as
 * TOML arrays).
 */
export function gatewayToml({ gateway = {}, management = {}, routes = {}, tls, managementTls,
  authorizer } = {}) {
  const value = (v) => (typeof v === 'string' || Array.isArray(v) ? JSON.stringify(v) : String(v));
  const lines = ['[gateway]', 'host = "127.0.0.1"', 'port = 0'];
  for (const [k, v] of Object.entries(gateway)) lines.push(`${k} = ${value(v)}`);
  if (tls) lines.push('', '[tls]', `cert = ${value(tls.cert)}`, `key = ${value(tls.key)}`);
  lines.push('', '[management]', 'host = "127.0.0.1"', 'port = 0');
  for (const [k, v] of Object.entries(management)) lines.push(`${k} = ${value(v)}`);
  if (managementTls) {
    lines.push('', '[management.tls]', `cert = ${value(managementTls.cert)}`,
      `key = ${value(managementTls.key)}`);
  }
  for (const [key, route] of Object.entries(routes)) {
    lines.push('', `[routes.${tomlString(key)}]`);
    for (const [k, v] of Object.entries(route)) lines.push(`${k} = ${value(v)}`);
  }
  if (authorizer) {
    lines.push('', '[authorizer]');
    for (const [k, v] of Object.entries(authorizer)) lines.push(`${k} = ${value(v)}`);
  }
  return `${lines.join('\n')}\n`;
}

/**
 * Writes `toml` to a temporary directory and starts `hibiki gateway --config FILE --host
 * 127.0.0.1 --port 0 --management-port <managementPort> --registry <registry>` (`:memory:`
 * unless given). Resolves once the listening line names both ports.
 * Returns { process, port, managementPort, wsUrl, url, managementUrl (with the stage),
 * stderr, exited, dir }; the URLs are wss:// and https:// for ports with TLS.
 */
export async function startGateway(toml, { managementPort = 0, registry = ':memory:', stage = 'dev',
  logLevel, threads, extraArgs = [] } = {}) {
  const bin = hibikiBin();
  if (!existsSync(bin)) throw new Error(`hibiki binary not found at ${bin} (build it or set HIBIKI_BIN)`);
  const dir = tempDir();
  const configPath = join(dir.path, 'gateway.toml');
  writeFileSync(configPath, toml);
  const args = ['gateway', '--config', configPath, '--host', HOST, '--port', '0',
    '--management-port', String(managementPort), '--registry', registry];
  if (logLevel) args.push('--log-level', logLevel);
  if (threads !== undefined) args.push('--threads', String(threads));
  args.push(...extraArgs);
  const child = spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] });
  const gateway = {
    process: child,
    dir,
    configPath,
    port: 0,
    managementPort: 0,
    stderr: '',
    exited: new Promise((res) => child.once('exit', (code, signal) => res({ code, signal }))),
  };
  child.stdout.resume();
  child.stderr.setEncoding('utf8');
  const ready = new Promise((res, rej) => {
    child.stderr.on('data', (d) => {
      gateway.stderr += d;
      const m = GATEWAY_LISTENING_RE.exec(gateway.stderr);
      if (m && !gateway.port) res([m[1], Number(m[2]), m[3], Number(m[4])]);
    });
    child.once('error', rej);
    child.once('exit', (code, signal) => rej(new Error(
      `hibiki gateway exited early (code ${code}, signal ${signal}); stderr:\n${gateway.stderr}`)));
  });
  let scheme;
  let managementScheme;
  try {
    [scheme, gateway.port, managementScheme, gateway.managementPort] =
      await withTimeout(ready, STARTUP_TIMEOUT, '"hibiki gateway listening on" from hibiki');
  } catch (err) {
    await stopGateway(gateway);
    throw err;
  }
  gateway.url = `${scheme}://${HOST}:${gateway.port}`;
  gateway.wsUrl = `${scheme === 'https' ? 'wss' : 'ws'}://${HOST}:${gateway.port}`;
  gateway.managementBase = `${managementScheme}://${HOST}:${gateway.managementPort}`;
  gateway.managementUrl = `${gateway.managementBase}/${stage}`;
  return gateway;
}

/** SIGTERM (SIGKILL after 5 s), then removes the config's directory. */
export async function stopGateway(gateway) {
  if (!gateway) return null;
  const result = await stopServer(gateway);
  gateway.dir?.cleanup();
  return result;
}

// ---------------------------------------------------------------------------------------------
// A test backend: the integration every route points at.

/**
 * A node:http server on 127.0.0.1:0 that records every POSTed event (parsed JSON, with the
 * request's method, path and headers) and answers with `backend.answer(event, request)`:
 * { status = 200, body = '', headers = {}, delayMs = 0 } (body: a string, or an object sent as
 * JSON). The default answers 200 with an empty body.
 */
export async function startBackend() {
  const backend = {
    events: [],
    waiters: [],
    answer: () => ({}),
  };
  const server = http.createServer((req, res) => {
    const chunks = [];
    req.on('data', (c) => chunks.push(c));
    req.on('end', async () => {
      const raw = Buffer.concat(chunks).toString('utf8');
      let event;
      try { event = JSON.parse(raw); } catch { event = { unparsable: raw }; }
      const record = { event, raw, method: req.method, path: req.url, headers: req.headers };
      backend.events.push(record);
      for (const waiter of [...backend.waiters]) waiter();
      let reply;
      try {
        reply = (await backend.answer(event, record)) ?? {};
      } catch (err) {
        reply = { status: 500, body: String(err) };
      }
      if (reply.delayMs) await sleep(reply.delayMs);
      if (res.destroyed) return;
      const body = typeof reply.body === 'string' || reply.body === undefined
        ? (reply.body ?? '') : JSON.stringify(reply.body);
      res.writeHead(reply.status ?? 200, { 'content-type': 'application/json', ...reply.headers });
      res.end(body);
    });
  });
  await new Promise((res, rej) => {
    server.once('error', rej);
    server.listen(0, HOST, res);
  });
  backend.port = server.address().port;
  backend.url = `http://${HOST}:${backend.port}/`;
  backend.server = server;

  /** Events whose requestContext matches every given field (routeKey, connectionId, …). */
  backend.find = (fields = {}) => backend.events.map((r) => r.event).filter((e) =>
    Object.entries(fields).every(([k, v]) => e.requestContext?.[k] === v));

  /**
   * Resolves with the first event (from index `from` on) for which `predicate(event)` holds,
   * waiting up to `ms`.
   */
  backend.waitFor = (predicate, { ms = DEFAULT_TIMEOUT, what = 'an event at the backend', from = 0 } = {}) => {
    const found = () => backend.events.slice(from).map((r) => r.event).find(predicate);
    const now = found();
    if (now) return Promise.resolve(now);
    let waiter;
    const p = new Promise((res) => {
      waiter = () => {
        const e = found();
        if (e) res(e);
      };
      backend.waiters.push(waiter);
    });
    return withTimeout(p, ms, what).finally(() => {
      backend.waiters.splice(backend.waiters.indexOf(waiter), 1);
    });
  };

  /** The CONNECT event whose query string has tag=<tag>. */
  backend.connectEvent = (tag) => backend.waitFor((e) =>
    e.requestContext?.eventType === 'CONNECT' && e.queryStringParameters?.tag === tag,
  { what: `CONNECT with tag=${tag}` });

  backend.close = async () => {
    server.closeAllConnections();
    await new Promise((res) => server.close(res));
  };
  return backend;
}

// ---------------------------------------------------------------------------------------------
// Clients.

/**
 * Tries a WebSocket upgrade. Resolves with { ws, protocol } when it opens, or { status, body,
 * headers } when the server answers anything but 101.
 */
export function tryUpgrade(url, { protocols, headers, ms = DEFAULT_TIMEOUT } = {}) {
  return withTimeout(new Promise((res, rej) => {
    const ws = new WebSocket(url, protocols, { perMessageDeflate: false, headers,
      handshakeTimeout: ms });
    ws.once('open', () => res({ ws, protocol: ws.protocol }));
    ws.once('unexpected-response', (_req, resp) => {
      const chunks = [];
      resp.on('data', (c) => chunks.push(c));
      resp.on('end', () => {
        res({ status: resp.statusCode, headers: resp.headers,
          body: Buffer.concat(chunks).toString('utf8') });
        ws.terminate();
      });
      resp.on('error', () => res({ status: resp.statusCode, headers: resp.headers, body: '' }));
    });
    ws.once('error', rej);
  }), ms + 1000, `upgrade ${url}`);
}

/** fetch with a timeout; returns { status, headers, body (text), json() }. */
export async function request(url, { method = 'GET', body, headers = {}, ms = DEFAULT_TIMEOUT } = {}) {
  const resp = await fetch(url, { method, body, headers, signal: AbortSignal.timeout(ms) });
  const text = await resp.text();
  return { status: resp.status, headers: resp.headers, body: text, json: () => JSON.parse(text) };
}

/** `POST|GET|DELETE {managementUrl}/@connections/{id}` (the id percent-encoded). */
export function connectionRequest(gateway, method, id, options = {}) {
  return request(`${gateway.managementUrl}/@connections/${encodeURIComponent(id)}`,
    { method, ...options });
}

// ---------------------------------------------------------------------------------------------
// The PHP example backend.

/** Fails with a clear message when `php` (with curl and pdo_sqlite) is missing. */
export function requirePhp() {
  const probe = spawnSync('php', ['-r',
    'echo extension_loaded("curl") && extension_loaded("pdo_sqlite") ? "ok" : "missing";'],
  { encoding: 'utf8', timeout: 10_000 });
  if (probe.error || probe.status !== 0 || probe.stdout !== 'ok') {
    throw new Error('php with the curl and pdo_sqlite extensions is required for the PHP example ' +
      'tests (Debian: php-cli php-curl php-sqlite3; `scripts/install-deps.sh --test` installs them); ' +
      `probe: ${probe.error?.message ?? `exit ${probe.status}, ${probe.stdout}${probe.stderr}`}`);
  }
}

/**
 * `php -S 127.0.0.1:<port> examples/php-chat/index.php` with MANAGEMENT_ENDPOINT and CHAT_DB.
 * Resolves once the port accepts connections. Returns { process, port, url, stderr, exited }.
 */
export async function startPhp({ port, managementEndpoint, chatDb }) {
  requirePhp();
  const child = spawn('php', ['-S', `${HOST}:${port}`, join(PHP_EXAMPLE, 'index.php')], {
    cwd: REPO_ROOT,
    env: { ...process.env, MANAGEMENT_ENDPOINT: managementEndpoint, CHAT_DB: chatDb },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const php = {
    process: child,
    port,
    url: `http://${HOST}:${port}/`,
    stderr: '',
    exited: new Promise((res) => child.once('exit', (code, signal) => res({ code, signal }))),
  };
  child.stdout.setEncoding('utf8').on('data', (d) => { php.stderr += d; });
  child.stderr.setEncoding('utf8').on('data', (d) => { php.stderr += d; });
  const deadline = Date.now() + STARTUP_TIMEOUT;
  for (;;) {
    if (child.exitCode !== null) throw new Error(`php -S exited early:\n${php.stderr}`);
    const up = await new Promise((res) => {
      const sock = net.connect({ host: HOST, port }, () => { sock.destroy(); res(true); });
      sock.once('error', () => res(false));
    });
    if (up) return php;
    if (Date.now() > deadline) {
      await stopServer(php);
      throw new Error(`php -S did not listen on ${port} within ${STARTUP_TIMEOUT} ms:\n${php.stderr}`);
    }
    await sleep(50);
  }
}

/**
 * The example's gateway.toml with every integration pointed at `phpUrl` (the file itself says
 * http://127.0.0.1:8000/); host, ports and registry come from startGateway's options.
 */
export function phpExampleToml(phpUrl) {
  const original = readFileSync(join(PHP_EXAMPLE, 'gateway.toml'), 'utf8');
  const rewritten = original.replaceAll('"http://127.0.0.1:8000/"', tomlString(phpUrl));
  if (rewritten === original) throw new Error('examples/php-chat/gateway.toml: no integration URL to rewrite');
  return rewritten;
}

/**
 * The connection ids in the PHP example's SQLite table, sorted; none before the handler has
 * created the file and its table.
 */
export function phpConnectionIds(chatDb) {
  const out = execFileSync('/usr/bin/python3', ['-c', [
    'import json, os, sqlite3, sys',
    'ids = []',
    'if os.path.exists(sys.argv[1]):',
    '    db = sqlite3.connect(sys.argv[1])',
    '    if db.execute("SELECT 1 FROM sqlite_master WHERE name = \'connections\'").fetchone():',
    '        ids = sorted(r[0] for r in db.execute("SELECT connection_id FROM connections"))',
    '    db.close()',
    'print(json.dumps(ids))',
  ].join('\n'), chatDb], { encoding: 'utf8', timeout: 10_000 });
  return JSON.parse(out);
}

