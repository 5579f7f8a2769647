// The chat page in a real (headless) Chromium, two users talking through hibiki chat.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import { REPO_ROOT, startServer, stopServer } from '../integration/lib/server.mjs';

const ARTIFACTS = join(REPO_ROOT, 'artifacts');
const WAIT = 10_000;
const XSS = '<img src=x onerror=alert(1)> and <b>not bold</b>';

describe('chat page', { timeout: 90_000 }, () => {
  let server;
  let browser;
  const users = {}; // name -> { page, id, problems: [] }

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startServer('chat');
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
      headless: true,
      timeout: 30_000,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    // A on a desktop in light mode, B on a phone in dark mode.
    users.a = await openUser(browser, server, { viewport: { width: 1280, height: 800 },
      colorScheme: 'light' });
    users.b = await openUser(browser, server, { viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2, isMobile: true, hasTouch: true, colorScheme: 'dark' });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await stopServer(server);
  });

  test('both pages come online and show their own distinct id', async () => {
    for (const user of Object.values(users)) {
      assert.equal(await user.page.textContent('#status'), 'online');
      assert.match(user.id, /^\d+$/);
      assert.equal(await user.page.textContent('#my-id'), `Client ${user.id}`);
    }
    assert.notEqual(users.a.id, users.b.id);
  });

  test('send is disabled while the input is empty', async () => {
    const { page } = users.a;
    await page.fill('#input', '');
    assert.equal(await page.isDisabled('#send'), true);
    await page.fill('#input', '   ');
    assert.equal(await page.isDisabled('#send'), true);
    await page.fill('#input', '');
  });

  test('a message typed in A shows up in B with A\'s id, and in A as its own', async () => {
    const { a, b } = users;
    await a.page.fill('#input', 'hello from A');
    await a.page.click('#send');

    const inB = await lastMessage(b.page, 'hello from A');
    assert.deepEqual(inB.classes.sort(), ['msg', 'theirs']);
    assert.equal(inB.sender, a.id);
    assert.equal(inB.senderLabel, `Client ${a.id}`);

    const inA = await lastMessage(a.page, 'hello from A');
    assert.ok(inA.classes.includes('mine'), `classes: ${inA.classes}`);
    assert.equal(inA.alignSelf, 'flex-end');
    // Own messages hug the right edge, others' the left.
    assert.ok(inA.rightGap < 4 && inA.leftGap > 200, `mine at ${JSON.stringify(inA)}`);
    assert.ok(inB.leftGap < 4, `theirs at ${JSON.stringify(inB)}`);
    assert.equal(await a.page.inputValue('#input'), '', 'input is cleared after sending');
  });

  test('Enter sends from B; A shows it with B\'s id and a different colour', async () => {
    const { a, b } = users;
    await b.page.fill('#input', 'reply from B');
    await b.page.press('#input', 'Enter');
    const inA = await lastMessage(a.page, 'reply from B');
    assert.equal(inA.sender, b.id);
    assert.ok(!inA.classes.includes('mine'));
    const inB = await lastMessage(b.page, 'reply from B');
    assert.ok(inB.classes.includes('mine'));

    // Sender colours come from ids: A's message in B vs B's message in A.
    const hueA = await b.page.$eval(`.msg[data-sender="${a.id}"]`, (n) => n.style.getPropertyValue('--hue'));
    const hueB = await a.page.$eval(`.msg[data-sender="${b.id}"]`, (n) => n.style.getPropertyValue('--hue'));
    assert.notEqual(hueA, hueB);
  });

  test('markup in a message is shown as text, never parsed', async () => {
    const { a, b } = users;
    await a.page.fill('#input', XSS);
    await a.page.press('#input', 'Enter');
    for (const user of [b, a]) {
      const msg = await lastMessage(user.page, XSS);
      assert.equal(msg.text, XSS);
      assert.equal(await user.page.locator('#messages img').count(), 0);
      assert.equal(await user.page.locator('#messages b').count(), 0);
      assert.equal(await user.page.locator('#log img').count(), 0);
    }
  });

  test('the debug log records frames in and out', async () => {
    const { page } = users.a;
    await page.click('#debug summary');
    const entries = await page.$$eval('#log li', (items) => items.map((li) => li.className));
    assert.ok(entries.includes('log-in') && entries.includes('log-out') && entries.includes('log-event'),
      `log kinds: ${[...new Set(entries)]}`);
    await page.click('#debug summary');
  });

  test('screenshots', async () => {
    await users.a.page.screenshot({ path: join(ARTIFACTS, 'chat-desktop.png') });
    await users.b.page.screenshot({ path: join(ARTIFACTS, 'chat-phone.png') });
  });

  test('when the server goes away the pages show reconnecting and disable send', async () => {
    await stopServer(server);
    for (const user of Object.values(users)) {
      const { page } = user;
      await page.waitForSelector('#status[data-state="reconnecting"]', { timeout: WAIT });
      assert.equal(await page.textContent('#status'), 'reconnecting');
      assert.equal(await page.textContent('#my-id'), '—');
      await page.fill('#input', 'draft while away');
      assert.equal(await page.isDisabled('#send'), true);
    }
    await users.b.page.screenshot({ path: join(ARTIFACTS, 'chat-phone-reconnecting.png') });
  });

  test('no page errors, dialogs or off-host requests happened', () => {
    for (const [name, user] of Object.entries(users)) {
      assert.deepEqual(user.problems, [], `problems in page ${name}`);
    }
  });
});

async function openUser(browser, server, contextOptions) {
  const context = await browser.newContext(contextOptions);
  const problems = [];
  // Everything must come from the hibiki server itself: no CDN, no stray fetches.
  await context.route('**/*', (route) => {
    const url = new URL(route.request().url());
    if (url.hostname === '127.0.0.1' && url.port === String(server.port)) return route.continue();
    problems.push(`off-host request ${url.href}`);
    return route.abort();
  });
  const page = await context.newPage();
  page.setDefaultTimeout(WAIT);
  page.on('pageerror', (err) => problems.push(`pageerror: ${err.message}`));
  page.on('dialog', (dialog) => {
    problems.push(`dialog: ${dialog.type()} ${dialog.message()}`);
    dialog.dismiss().catch(() => {});
  });
  page.on('console', (msg) => {
    // Connection failures after the server stops are expected noise from Chromium itself.
    if (msg.type() === 'error' && !/WebSocket connection/.test(msg.text())) {
      problems.push(`console: ${msg.text()}`);
    }
  });
  await page.goto(`${server.url}/`, { timeout: WAIT });
  await page.waitForSelector('#status[data-state="online"]', { timeout: WAIT });
  await page.waitForFunction(() => /^\d+$/.test(document.querySelector('#my-id').dataset.id ?? ''),
    null, { timeout: WAIT });
  const id = await page.$eval('#my-id', (n) => n.dataset.id);
  return { page, id, problems };
}

/** Waits for the newest .msg whose bubble text equals `text` and describes it. */
async function lastMessage(page, text) {
  await page.waitForFunction((t) => [...document.querySelectorAll('#messages .msg .bubble')]
    .some((n) => n.textContent === t), text, { timeout: WAIT });
  return page.evaluate((t) => {
    const bubbles = [...document.querySelectorAll('#messages .msg .bubble')].filter((n) => n.textContent === t);
    const msg = bubbles.at(-1).closest('.msg');
    const list = document.querySelector('#messages').getBoundingClientRect();
    const box = msg.getBoundingClientRect();
    return {
      classes: [...msg.classList].filter((c) => c !== 'cont'),
      sender: msg.dataset.sender,
      senderLabel: msg.querySelector('.sender')?.textContent,
      text: bubbles.at(-1).textContent,
      alignSelf: getComputedStyle(msg).alignSelf,
      leftGap: Math.round(box.left - list.left),
      rightGap: Math.round(list.right - box.right),
    };
  }, text);
}
