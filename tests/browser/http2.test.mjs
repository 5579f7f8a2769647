// The chat page over HTTP/2 in headless Chromium (a throwaway certificate, accepted with
// --ignore-certificate-errors): the browser's own record (CDP Network.responseReceived) says the
// page came over h2; whether the page's WebSocket went over the same connection by RFC 8441 is
// read from the server's /metrics (hibiki_http2_websocket_streams_total), and two pages chat.
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { connectH2, h2Get } from '../integration/lib/h2ws.mjs';
import { HOST } from '../integration/lib/server.mjs';
import { makeCertificate, startTlsServer, stopServer } from '../integration/lib/tls_server.mjs';
import { launchChromium } from './lib/chromium.mjs';

let dir;
let cert;
let server;
let browser;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hibiki-h2-browser-'));
  cert = makeCertificate(dir);
  server = await startTlsServer('chat', cert);
  browser = await launchChromium({ acceptAnyCertificate: true });
});

after(async () => {
  await browser?.close().catch(() => {});
  await stopServer(server);
  rmSync(dir, { recursive: true, force: true });
});

async function metrics() {
  const session = await connectH2(server.port, cert.pem);
  try {
    const text = (await h2Get(session, '/metrics')).body.toString();
    const value = (name) => Number(new RegExp(`^hibiki_${name} (\\d+)$`, 'm').exec(text)[1]);
    return { websocketStreams: value('http2_websocket_streams_total'),
      upgrades: value('websocket_upgrades_total') };
  } finally {
    session.close();
  }
}

test('the page arrives over h2 and two pages chat', { timeout: 90_000 }, async (t) => {
  const url = `https://localhost:${server.port}/`;
  const before = await metrics();
  const pages = [];
  const protocols = [];
  for (let i = 0; i < 2; ++i) {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    const cdp = await context.newCDPSession(page);
    await cdp.send('Network.enable');
    cdp.on('Network.responseReceived', (event) => {
      if (event.type === 'Document') protocols.push(event.response.protocol);
    });
    await page.goto(url);
    await page.waitForFunction(() => document.querySelector('#status')?.textContent === 'online',
      null, { timeout: 20_000 });
    pages.push(page);
  }
  assert.deepEqual(protocols, ['h2', 'h2'], 'the page came over HTTP/2');
  await pages[0].fill('#input', 'hello over h2');
  await pages[0].click('#send');
  await pages[1].waitForFunction(
    () => [...document.querySelectorAll('#messages .msg')].some((m) => m.textContent.includes('hello over h2')),
    null, { timeout: 10_000 });
  // Which way the pages' WebSockets went: every upgrade is counted, those over h2 apart.
  const now = await metrics();
  const overH2 = now.websocketStreams - before.websocketStreams;
  const total = now.upgrades - before.upgrades;
  assert.equal(total, 2, 'two WebSockets opened');
  // Chromium sends an RFC 8441 CONNECT only on an h2 connection it already holds to the origin
  // whose SETTINGS announced ENABLE_CONNECT_PROTOCOL; recorded here so a change shows.
  t.diagnostic(`Chromium ${browser.version()}: ${overH2} of ${total} WebSockets over HTTP/2 (RFC 8441)`);
  assert.equal(overH2, 2, 'both WebSockets went over the h2 connection (RFC 8441)');
});
