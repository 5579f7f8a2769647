// The chat page over https:// and wss:// in headless Chromium (a throwaway certificate, so the
// browser is told to accept it: --ignore-certificate-errors).
import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, test } from 'node:test';
import { chromium } from 'playwright-core';
import { HOST, hibikiBin, withTimeout } from '../integration/lib/server.mjs';

let dir;
let server;
let browser;

before(async () => {
  dir = mkdtempSync(join(tmpdir(), 'hibiki-tls-browser-'));
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt',
    'ec_paramgen_curve:prime256v1', '-days', '1', '-nodes', '-subj', '/CN=localhost',
    '-addext', `subjectAltName=IP:${HOST}`, '-keyout', join(dir, 'key.pem'),
    '-out', join(dir, 'cert.pem')], { stdio: 'ignore' });
  const child = spawn(hibikiBin(), ['chat', '--host', HOST, '--port', '0', '--db', ':memory:',
    '--tls-cert', join(dir, 'cert.pem'), '--tls-key', join(dir, 'key.pem')],
  { stdio: ['ignore', 'ignore', 'pipe'] });
  let log = '';
  const port = await withTimeout(new Promise((res) => {
    child.stderr.setEncoding('utf8').on('data', (d) => {
      log += d;
      const m = /listening on https:\/\/[^:]+:(\d+)/.exec(log);
      if (m) res(Number(m[1]));
    });
  }), 10_000, 'hibiki chat over TLS to listen');
  server = { child, port, exited: new Promise((r) => child.once('exit', r)) };
  browser = await chromium.launch({
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    headless: true,
    timeout: 30_000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync',
      '--ignore-certificate-errors'],
  });
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
