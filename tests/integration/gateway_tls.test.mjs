// `hibiki gateway` with TLS on both ports, each with its own throwaway certificate: $connect over
// wss:// says X-Forwarded-Proto https, PostToConnection over https:// reaches the client, plain
// http:// to the TLS management port is refused without harm, and SIGHUP with new files on disk
// gives new connections on each port the new certificate while open connections keep working;
// over HTTP/2, a $connect decided after the backend answers opens an RFC 8441 stream.
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { X509Certificate } from 'node:crypto';
import { copyFileSync, readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { join } from 'node:path';
import tls from 'node:tls';
import { after, before, describe, test } from 'node:test';
import WebSocket from 'ws';
import { connectH2, openWebSocket } from './lib/h2ws.mjs';
import { DEFAULT_TIMEOUT, HOST, eventually, withTimeout } from './lib/server.mjs';
import {
  gatewayToml, startBackend, startGateway, stopGateway, tempDir,
} from './lib/gateway.mjs';

/** A self-signed P-256 certificate for 127.0.0.1 and localhost, CN=<name>. */
function makeCertificate(dir, name) {
  const cert = join(dir, `${name}-cert.pem`);
  const key = join(dir, `${name}-key.pem`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt',
    'ec_paramgen_curve:prime256v1', '-days', '1', '-nodes', '-subj', `/CN=${name}`,
    '-addext', `subjectAltName=DNS:localhost,IP:${HOST}`, '-keyout', key, '-out', cert],
  { stdio: 'ignore', timeout: 10_000 });
  const pem = readFileSync(cert);
  return { cert, key, pem, fingerprint: new X509Certificate(pem).fingerprint256 };
}

/** Puts `certificate`'s files where the gateway reads them (`files`). */
function install(certificate, files) {
  copyFileSync(certificate.cert, files.cert);
  copyFileSync(certificate.key, files.key);
}

/** The SHA-256 fingerprint of the certificate presented on `port` (verified against `ca`). */
function peerFingerprint(port, ca) {
  return withTimeout(new Promise((res, rej) => {
    const socket = tls.connect({ host: HOST, port, ca }, () => {
      const fingerprint = socket.getPeerX509Certificate().fingerprint256;
      socket.destroy();
      res(fingerprint);
    });
    socket.once('error', rej);
  }), DEFAULT_TIMEOUT, `TLS connect to ${port}`);
}

/** An https request verified against `ca`; resolves { status, headers, body }. */
function httpsRequest(url, { method = 'GET', body, ca }) {
  return withTimeout(new Promise((res, rej) => {
    const req = https.request(url, { method, ca }, (resp) => {
      const chunks = [];
      resp.on('data', (c) => chunks.push(c));
      resp.on('end', () => res({ status: resp.statusCode, headers: resp.headers,
        body: Buffer.concat(chunks).toString('utf8') }));
      resp.on('error', rej);
    });
    req.once('error', rej);
    req.end(body);
  }), DEFAULT_TIMEOUT, `${method} ${url}`);
}

/** A wss:// client verified against `ca`, with an inbox of text messages. */
async function connectWss(url, ca) {
  const ws = new WebSocket(url, { ca, perMessageDeflate: false, handshakeTimeout: DEFAULT_TIMEOUT });
  const inbox = [];
  const waiters = [];
  ws.on('message', (data) => {
    const waiter = waiters.shift();
    if (waiter) waiter(data.toString('utf8')); else inbox.push(data.toString('utf8'));
  });
  await withTimeout(new Promise((res, rej) => {
    ws.once('open', res);
    ws.once('error', rej);
  }), DEFAULT_TIMEOUT + 1000, `open ${url}`);
  const next = () => withTimeout(inbox.length ? Promise.resolve(inbox.shift())
    : new Promise((res) => waiters.push(res)), DEFAULT_TIMEOUT, 'a message over wss');
  return { ws, next };
}

describe('gateway over TLS on both ports', { timeout: 60_000 }, () => {
  let dir;
  let backend;
  let gateway;
  let certs;
  const files = {};
  let open;  // a client connected before the reload
  let openId;

  before(async () => {
    dir = tempDir('hibiki-gw-tls-');
    certs = {
      ws: makeCertificate(dir.path, 'ws-first'),
      api: makeCertificate(dir.path, 'api-first'),
      wsNext: makeCertificate(dir.path, 'ws-second'),
      apiNext: makeCertificate(dir.path, 'api-second'),
    };
    files.ws = { cert: join(dir.path, 'ws.pem'), key: join(dir.path, 'ws.key') };
    files.api = { cert: join(dir.path, 'api.pem'), key: join(dir.path, 'api.key') };
    install(certs.ws, files.ws);
    install(certs.api, files.api);
    backend = await startBackend();
    gateway = await startGateway(gatewayToml({
      tls: files.ws,
      managementTls: files.api,
      routes: { $connect: { integration: backend.url }, $default: { integration: backend.url } },
    }));
  });

  after(async () => {
    open?.ws.terminate();
    const exit = await stopGateway(gateway);
    await backend?.close();
    dir?.cleanup();
    assert.deepEqual(exit, { code: 0, signal: null }, gateway?.stderr);
  });

  test('the listening line and each port present their own certificate', async () => {
    assert.match(gateway.wsUrl, /^wss:/);
    assert.match(gateway.managementBase, /^https:/);
    assert.equal(await peerFingerprint(gateway.port, certs.ws.pem), certs.ws.fingerprint);
    assert.equal(await peerFingerprint(gateway.managementPort, certs.api.pem),
      certs.api.fingerprint);
    assert.notEqual(certs.ws.fingerprint, certs.api.fingerprint);
  });

  test('$connect over wss says https; PostToConnection over https reaches the client', async () => {
    open = await connectWss(`${gateway.wsUrl}/?tag=tls`, certs.ws.pem);
    const connect = await backend.connectEvent('tls');
    assert.equal(connect.headers['X-Forwarded-Proto'], 'https');
    assert.equal(connect.headers['X-Forwarded-Port'], String(gateway.port));
    assert.deepEqual(connect.multiValueHeaders['X-Forwarded-Proto'], ['https']);
    openId = connect.requestContext.connectionId;

    open.ws.send('{"action":"anything"}');
    const message = await backend.waitFor((e) => e.requestContext?.eventType === 'MESSAGE' &&
      e.requestContext.connectionId === openId, { what: 'MESSAGE over wss' });
    assert.equal(message.body, '{"action":"anything"}');

    const posted = await httpsRequest(
      `${gateway.managementUrl}/@connections/${encodeURIComponent(openId)}`,
      { method: 'POST', body: 'over https', ca: certs.api.pem });
    assert.equal(posted.status, 200, posted.body);
    assert.equal(await open.next(), 'over https');
  });

  test('HTTP/2: $connect answered later opens an RFC 8441 stream; PostToConnection over h2',
    async () => {
      // The gateway decides the upgrade after its backend answers (on_upgrade, deferred): the
      // stream waits, then gets its 200.
      const session = await connectH2(gateway.port, certs.ws.pem);
      const managementSession = await connectH2(gateway.managementPort, certs.api.pem);
      try {
        const ws = await openWebSocket(session, '/?tag=h2');
        assert.equal(ws.status, 200);
        const connect = await backend.connectEvent('h2');
        assert.equal(connect.headers['X-Forwarded-Proto'], 'https');
        const id = connect.requestContext.connectionId;
        ws.send('{"action":"over h2"}');
        const message = await backend.waitFor((e) => e.requestContext?.eventType === 'MESSAGE' &&
          e.requestContext.connectionId === id, { what: 'MESSAGE over h2' });
        assert.equal(message.body, '{"action":"over h2"}');
        const posted = await withTimeout(new Promise((res, rej) => {
          const req = managementSession.request({ ':method': 'POST',
            ':path': `${new URL(gateway.managementUrl).pathname}/@connections/${encodeURIComponent(id)}` });
          req.on('response', (h) => { req.resume(); req.on('end', () => res(h[':status'])); });
          req.on('error', rej);
          req.end('pushed over h2');
        }), DEFAULT_TIMEOUT, 'PostToConnection over h2');
        assert.equal(posted, 200);  // answered later (route_deferred) on an h2 stream
        assert.equal((await ws.next()).text, 'pushed over h2');
        ws.close();
        assert.equal((await ws.closed).code, 1000);
      } finally {
        session.close();
        managementSession.close();
      }
    });

  test('a client that does not trust the certificate is refused by the client side', async () => {
    // The WebSocket port's certificate does not vouch for the management port, nor the reverse.
    await assert.rejects(peerFingerprint(gateway.managementPort, certs.ws.pem));
    await assert.rejects(peerFingerprint(gateway.port, certs.api.pem));
  });

  test('plain http to the TLS management port fails cleanly', async () => {
    const outcome = await withTimeout(new Promise((res) => {
      const req = http.request(`http://${HOST}:${gateway.managementPort}/healthz`,
        (resp) => {
          resp.resume();
          resp.on('end', () => res({ status: resp.statusCode }));
          resp.on('error', (err) => res({ error: err.code ?? err.message }));
        });
      req.once('error', (err) => res({ error: err.code ?? err.message }));
      req.end();
    }), DEFAULT_TIMEOUT + 5000, 'plain http to the TLS port to end');
    // No HTTP answer comes back: the handshake fails and the connection is closed.
    assert.ok(outcome.error, `expected a failed request, got ${JSON.stringify(outcome)}`);
    // Plain ws:// to the wss:// port fails the same way.
    await assert.rejects(withTimeout(new Promise((res, rej) => {
      const ws = new WebSocket(`ws://${HOST}:${gateway.port}/`, { handshakeTimeout: 3000 });
      ws.once('open', () => { ws.terminate(); res(); });
      ws.once('error', rej);
    }), DEFAULT_TIMEOUT, 'plain ws to the TLS port'));
    // The gateway is still there and serves TLS callers.
    assert.equal(gateway.process.exitCode, null);
    const health = await httpsRequest(`${gateway.managementBase}/healthz`, { ca: certs.api.pem });
    assert.equal(health.status, 200);
    assert.equal(JSON.parse(health.body).status, 'ok');
  });

  test('SIGHUP loads new certificates for both ports; open connections keep working', async () => {
    install(certs.wsNext, files.ws);
    install(certs.apiNext, files.api);
    process.kill(gateway.process.pid, 'SIGHUP');
    const wsCa = [certs.ws.pem, certs.wsNext.pem];
    const apiCa = [certs.api.pem, certs.apiNext.pem];
    await eventually(async () =>
      (await peerFingerprint(gateway.port, wsCa)) === certs.wsNext.fingerprint &&
      (await peerFingerprint(gateway.managementPort, apiCa)) === certs.apiNext.fingerprint,
    DEFAULT_TIMEOUT, 'both ports to present the new certificates');
    assert.match(gateway.stderr, /TLS certificate reloaded from .*ws\.pem/);
    assert.match(gateway.stderr, /TLS certificate reloaded from .*api\.pem/);

    // New connections trust only the new certificates now.
    const fresh = await connectWss(`${gateway.wsUrl}/?tag=after`, certs.wsNext.pem);
    const freshId = (await backend.connectEvent('after')).requestContext.connectionId;
    const toFresh = await httpsRequest(
      `${gateway.managementUrl}/@connections/${encodeURIComponent(freshId)}`,
      { method: 'POST', body: 'to the new one', ca: certs.apiNext.pem });
    assert.equal(toFresh.status, 200, toFresh.body);
    assert.equal(await fresh.next(), 'to the new one');
    fresh.ws.close();

    // The client connected before the reload still talks both ways.
    const toOpen = await httpsRequest(
      `${gateway.managementUrl}/@connections/${encodeURIComponent(openId)}`,
      { method: 'POST', body: 'still here', ca: certs.apiNext.pem });
    assert.equal(toOpen.status, 200, toOpen.body);
    assert.equal(await open.next(), 'still here');
    const from = backend.events.length;
    open.ws.send('{"action":"after reload"}');
    const message = await backend.waitFor((e) => e.requestContext?.eventType === 'MESSAGE' &&
      e.requestContext.connectionId === openId, { what: 'MESSAGE after the reload', from });
    assert.equal(message.body, '{"action":"after reload"}');
  });
});
