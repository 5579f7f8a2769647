// The chat page over https:// and wss:// in headless Chromium (a throwaway certificate, so the
// browser is told to accept it: --ignore-certificate-errors).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { HOST, withTimeout } from '../integration/lib/server.mjs';
import { makeCertificate, startTlsServer } from '../integration/lib/tls_server.mjs';
import { launchChromium } from './lib/chromium.mjs';

let dir;
let server;
let browser;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hibiki-tls-browser-'));
  server = await startTlsServer('chat', makeCertificate(dir));
  browser = await launchChromium({ acceptAnyCertificate: true });
});

after(async () => {
  await browser?.close().catch(() => {});
  server?.child.kill('SIGTERM');
  await withTimeout(server.exited, 10_000, 'hibiki to exit');
  rmSync(dir, { recursive: true, force: true });
});

test('two pages chat over https and wss', { timeout: 60_000 }, async () => {
  const url = `https://${HOST}:${server.port}/`;
  const pages = [];
  for (let i = 0; i < 2; ++i) {
    const context = await browser.newContext({ ignoreHTTPSErrors: true });
    const page = await context.newPage();
    await page.goto(url);
    await page.waitForFunction(() => document.querySelector('#status')?.textContent === 'online',
      null, { timeout: 10_000 });
    pages.push(page);
  }
  await pages[0].fill('#input', 'hello over wss');
  await pages[0].click('#send');
  await pages[1].waitForFunction(
    () => [...document.querySelectorAll('#messages .msg')].some((m) => m.textContent.includes('hello over wss')),
    null, { timeout: 10_000 });
  assert.equal(await pages[1].evaluate(() => location.protocol), 'https:');
});
