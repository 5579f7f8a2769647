// The chat page against a server that speaks only the talk's JSON — no welcome, rooms, names or
// history: a tiny Node `ws` server that serves web/ and broadcasts
// {"type":"message","body":"Client <id>: <text>"} for every {"action":"message"}. One variant
// answers everything else (the page's hello) like an API Gateway route that does not exist,
// with {"message":"Forbidden",…}; the other never answers it, so the page has to time out.
import assert from 'node:assert/strict';
import { randomUUID } from 'node:crypto';
import { mkdirSync, readFileSync } from 'node:fs';
import http from 'node:http';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import { WebSocketServer } from 'ws';
import {
  HOST, REPO_ROOT, WEB_ROOT, startServer, stopServer, withTimeout,
} from '../integration/lib/server.mjs';
import { lastMessage as lastMessageWithin, openGuardedPage } from './lib/guarded-page.mjs';

const ARTIFACTS = join(REPO_ROOT, 'artifacts');
const WAIT = 10_000;
const lastMessage = (page, text) => lastMessageWithin(page, text, WAIT);
const XSS = '<b>not bold</b> <img src=x onerror=alert(1)>';
const BASIC_NOTE = 'basic server: rooms and names unavailable';
const FILES = {
  '/': ['index.html', 'text/html; charset=utf-8'],
  '/index.html': ['index.html', 'text/html; charset=utf-8'],
  '/app.js': ['app.js', 'text/javascript; charset=utf-8'],
  '/chat-core.js': ['chat-core.js', 'text/javascript; charset=utf-8'],
  '/style.css': ['style.css', 'text/css; charset=utf-8'],
};

describe('basic mode: hello answered with API Gateway\'s "Forbidden"', { timeout: 120_000 }, () => {
  let server;
  let browser;
  let hibiki;
  const users = {};

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    server = await startTalkServer({ unknown: 'forbidden' });
    browser = await launchBrowser();
    users.a = await openUser(browser, server, { viewport: { width: 1280, height: 800 },
      colorScheme: 'light' });
    users.b = await openUser(browser, server, { viewport: { width: 390, height: 844 },
      deviceScaleFactor: 2, isMobile: true, hasTouch: true, colorScheme: 'dark' });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server?.close();
    await stopServer(hibiki);
  });

  test('the answer switches both pages at once; rooms and names say they are unavailable', async () => {
    for (const user of Object.values(users)) {
      const { page } = user;
      assert.equal(await page.textContent('#status'), 'online');
      assert.equal(await page.textContent('#room-name'), 'everyone');
      assert.equal(await page.textContent('#room-meta'), BASIC_NOTE);
      for (const hidden of ['#rooms', '#join-form', '#members-panel', '#room-title .hash']) {
        assert.equal(await page.isHidden(hidden), true, hidden);
      }
      assert.equal(await page.isDisabled('#edit-name'), true);
      assert.equal(await page.textContent('#my-id'), 'id not known');
      const log = await logTexts(page);
      assert.ok(log.includes('the server does not know hello: basic mode'), log.join('\n'));
      assert.ok(!log.some((t) => t.startsWith('no welcome')), 'the Forbidden frame decided it');
    }
    assert.equal(await users.a.page.isVisible('#basic-note'), true);
    assert.match(await users.a.page.textContent('#basic-note'), /rooms and names unavailable/);
    // Each page said hello first, as it does to any server.
    for (const id of server.connections()) {
      assert.deepEqual(JSON.parse(server.frames(id)[0]), { action: 'hello' });
    }
  });

  test('messages from both pages reach both, labelled "Client <id>", own on the right', async () => {
    await exchange(server, users.a, users.b);
  });

  test('the same text from both: the first echo is the sender\'s own, FIFO', async () => {
    const { a, b } = users;
    await sendText(a, 'same');
    await waitCount(a.page, 'same', 1);
    await waitCount(b.page, 'same', 1);
    await sendText(b, 'same');
    await waitCount(a.page, 'same', 2);
    await waitCount(b.page, 'same', 2);
    assert.deepEqual(await mineFlags(a.page, 'same'), [true, false]);
    assert.deepEqual(await mineFlags(b.page, 'same'), [false, true]);
  });

  test('screenshots', async () => {
    await users.a.page.waitForTimeout(300); // the newest bubble's fade-in
    await users.a.page.screenshot({ path: join(ARTIFACTS, 'basic-desktop.png') });
    await users.b.page.screenshot({ path: join(ARTIFACTS, 'basic-phone.png') });
    await users.b.page.click('#menu');
    await users.b.page.waitForTimeout(300);
    assert.equal(await users.b.page.isVisible('#basic-note'), true);
    await users.b.page.screenshot({ path: join(ARTIFACTS, 'basic-phone-drawer.png') });
    await users.b.page.click('#close-drawer');
    await users.b.page.waitForTimeout(250);
  });

  test('after a dropped connection the pages reconnect, say hello again and carry on', async () => {
    const before = server.connections().length;
    server.dropAll();
    for (const user of Object.values(users)) {
      await user.page.waitForSelector('#status[data-state="reconnecting"]', { timeout: WAIT });
      assert.equal(await user.page.getAttribute('#app', 'data-mode'), 'basic', 'no flash of rooms');
    }
    for (const user of Object.values(users)) {
      await user.page.waitForSelector('#status[data-state="online"]', { timeout: WAIT });
    }
    await withTimeout((async () => {
      while (server.connections().length < before + 2) await new Promise((r) => setTimeout(r, 50));
    })(), WAIT, 'both pages to reconnect');
    for (const id of server.connections().slice(before)) {
      assert.deepEqual(JSON.parse(server.frames(id)[0]), { action: 'hello' });
    }
    for (const user of Object.values(users)) {
      assert.equal(await countText(user.page, 'hello from A'), 1, 'the conversation is kept');
    }
    await sendText(users.b, 'back again');
    const own = await lastMessage(users.b.page, 'back again');
    const seen = await lastMessage(users.a.page, 'back again');
    assert.ok(own.classes.includes('mine'));
    assert.ok(seen.classes.includes('theirs'));
    assert.equal(own.senderLabel, seen.senderLabel);
    assert.equal(seen.senderLabel, `Client ${server.senderOf('back again')}`);
  });

  test('when the server at that address learns hello, the next connection gets the rooms back', async () => {
    // hibiki takes over the port: the open pages reconnect to it and get a welcome.
    const { port } = server;
    await server.close();
    server = null;
    hibiki = await startServer('chat', { port });
    for (const user of Object.values(users)) {
      const { page } = user;
      await page.waitForSelector('#app[data-mode="hibiki"]', { timeout: 15_000 });
      await page.waitForFunction(() => /^\d+$/.test(document.querySelector('#my-id').dataset.id),
        null, { timeout: WAIT });
      await page.waitForSelector('.room[data-room="lobby"][data-joined="true"]',
        { state: 'attached', timeout: WAIT });
      assert.equal(await page.textContent('#room-name'), 'lobby');
      assert.notEqual(await page.textContent('#room-meta'), BASIC_NOTE);
      assert.equal(await page.isDisabled('#edit-name'), false);
      assert.ok((await logTexts(page)).includes('the server knows hello: rooms and names'));
    }
    await sendText(users.a, 'rooms are back');
    const own = await lastMessage(users.a.page, 'rooms are back');
    assert.equal(own.senderLabel, 'You');
    const theirs = await lastMessage(users.b.page, 'rooms are back');
    assert.match(theirs.senderLabel, /^Client \d+$/);
    assert.match(theirs.id, /^\d+$/);
  });

  test('no page errors, dialogs or off-host requests happened', () => {
    for (const [name, user] of Object.entries(users)) {
      assert.deepEqual(user.problems, [], `problems in page ${name}`);
    }
  });
});

describe('basic mode: hello never answered', { timeout: 60_000 }, () => {
  let server;
  let browser;
  const users = {};

  before(async () => {
    server = await startTalkServer({ unknown: 'silent' });
    browser = await launchBrowser();
    users.a = await openUser(browser, server, { viewport: { width: 1280, height: 800 } });
    users.b = await openUser(browser, server, { viewport: { width: 1024, height: 700 },
      colorScheme: 'dark' });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await server?.close();
  });

  test('the page gives up waiting for a welcome after 1.5 s and switches to basic mode', async () => {
    for (const user of Object.values(users)) {
      assert.ok(user.switchMs >= 1200, `switched after ${user.switchMs} ms`);
      const log = await logTexts(user.page);
      assert.ok(log.includes('no welcome within 1.5 s: basic mode'), log.join('\n'));
      assert.equal(await user.page.textContent('#room-meta'), BASIC_NOTE);
    }
    await users.b.page.screenshot({ path: join(ARTIFACTS, 'basic-timeout-dark.png') });
  });

  test('messages from both pages reach both, labelled "Client <id>", own on the right', async () => {
    await exchange(server, users.a, users.b);
  });

  test('no page errors, dialogs or off-host requests happened', () => {
    for (const [name, user] of Object.entries(users)) {
      assert.deepEqual(user.problems, [], `problems in page ${name}`);
    }
  });
});

// ---------------------------------------------------------------------------------------------

/**
 * The talk's server: serves web/ and, on the same port, broadcasts every
 * {"action":"message","message":…} as {"type":"message","body":"Client <id>: <text>"} to every
 * client, the sender included. Anything else gets the Forbidden frame (unknown: 'forbidden')
 * or nothing (unknown: 'silent').
 */
async function startTalkServer({ unknown }) {
  const httpServer = http.createServer((req, res) => {
    const file = FILES[new URL(req.url, 'http://x').pathname];
    if (req.method !== 'GET' || !file) {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n');
      return;
    }
    res.writeHead(200, { 'content-type': file[1], 'cache-control': 'no-store' });
    res.end(readFileSync(join(WEB_ROOT, file[0])));
  });
  const wss = new WebSocketServer({ server: httpServer });
  let nextId = 1;
  const received = new Map(); // connection id -> frames as text, in order
  wss.on('connection', (ws) => {
    const id = nextId++;
    received.set(id, []);
    ws.on('message', (data, isBinary) => {
      if (isBinary) return;
      const text = data.toString('utf8');
      received.get(id).push(text);
      let frame = null;
      try { frame = JSON.parse(text); } catch { /* not JSON: unknown */ }
      if (frame?.action === 'message' && typeof frame.message === 'string') {
        const out = JSON.stringify({ type: 'message', body: `Client ${id}: ${frame.message}` });
        for (const client of wss.clients) if (client.readyState === client.OPEN) client.send(out);
      } else if (unknown === 'forbidden') {
        ws.send(JSON.stringify({ message: 'Forbidden', connectionId: `c${id}Abc=`, requestId: randomUUID() }));
      }
    });
  });
  await new Promise((res, rej) => {
    httpServer.once('error', rej);
    httpServer.listen(0, HOST, res);
  });
  const { port } = httpServer.address();
  return {
    port,
    url: `http://${HOST}:${port}`,
    connections: () => [...received.keys()],
    frames: (id) => received.get(id),
    /** The connection id that sent `text` as a message (the last one, if several did). */
    senderOf(text) {
      let sender = null;
      for (const [id, frames] of received) {
        if (frames.some((f) => f === JSON.stringify({ action: 'message', message: text }))) sender = id;
      }
      return sender;
    },
    dropAll() {
      for (const client of wss.clients) client.terminate();
    },
    async close() {
      for (const client of wss.clients) client.terminate();
      await new Promise((res) => wss.close(res));
      httpServer.closeAllConnections();
      await new Promise((res) => httpServer.close(res));
    },
  };
}

function launchBrowser() {
  return chromium.launch({
    executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
    headless: true,
    timeout: 30_000,
    args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
      '--disable-background-networking', '--disable-component-update', '--disable-sync'],
  });
}

// Notes, in the page's own clock, when its first WebSocket opened: the welcome timer starts
// there, so the wait is measured from the page's side, not from when the test got control
// back (which a loaded machine delays).
const NOTE_FIRST_OPEN = () => {
  const Native = window.WebSocket;
  window.WebSocket = class extends Native {
    constructor(...args) {
      super(...args);
      this.addEventListener('open', () => { window.firstOpenAt ??= performance.now(); });
    }
  };
};

async function openUser(browser, server, contextOptions) {
  const { page, problems } = await openGuardedPage(browser, `${server.url}/`,
    { contextOptions, timeout: WAIT, initScript: NOTE_FIRST_OPEN });
  await page.waitForSelector('#app[data-mode="basic"]', { state: 'attached', timeout: WAIT });
  // At least the real wait: read after the switch, never before it.
  const switchMs = await page.evaluate(() => Math.round(performance.now() - window.firstOpenAt));
  return { page, problems, switchMs };
}

/** A sends plain text, B sends markup; both see both once, own right-aligned, "Client <id>". */
async function exchange(server, a, b) {
  await sendText(a, 'hello from A');
  await lastMessage(a.page, 'hello from A');
  await sendText(b, XSS);
  // The echo back to B means the server has it: only then ask who sent it.
  await lastMessage(b.page, XSS);
  const idA = server.senderOf('hello from A');
  const idB = server.senderOf(XSS);
  assert.notEqual(idA, idB);
  for (const [user, ownText, ownId, otherText, otherId] of [
    [a, 'hello from A', idA, XSS, idB], [b, XSS, idB, 'hello from A', idA]]) {
    const own = await lastMessage(user.page, ownText);
    const other = await lastMessage(user.page, otherText);
    assert.deepEqual(own.classes.sort(), ['mine', 'msg']);
    assert.deepEqual(other.classes.sort(), ['msg', 'theirs']);
    assert.equal(own.senderLabel, `Client ${ownId}`);
    assert.equal(other.senderLabel, `Client ${otherId}`);
    assert.equal(own.sender, String(ownId));
    assert.equal(other.sender, String(otherId));
    assert.equal(own.id, undefined, 'a basic server gives no message ids');
    // Bubbles are at most 76 % (desktop) or 86 % (phone) of the list wide.
    assert.ok(own.rightGap < 4 && own.leftGap > 20, `mine at ${JSON.stringify(own)}`);
    assert.ok(other.leftGap < 4 && other.rightGap > 20, `theirs at ${JSON.stringify(other)}`);
    assert.notEqual(own.hue, other.hue, 'each sender has its own colour');
    for (const text of [ownText, otherText]) assert.equal(await countText(user.page, text), 1, text);
    // Markup is text: shown literally, never parsed.
    assert.equal((await lastMessage(user.page, XSS)).text, XSS);
    assert.equal(await user.page.locator('#messages b').count(), 0);
    assert.equal(await user.page.locator('#messages img').count(), 0);
    assert.equal(await user.page.inputValue('#input'), '');
  }
  // The page sent the talk's frame, exactly.
  assert.ok(server.frames(idB).includes(JSON.stringify({ action: 'message', message: XSS })));
}

async function sendText(user, text) {
  await user.page.fill('#input', text);
  await user.page.press('#input', 'Enter');
}

function logTexts(page) {
  return page.$$eval('#log .log-text', (n) => n.map((x) => x.textContent));
}

function countText(page, text) {
  return page.$$eval('#messages .msg .bubble', (n, t) => n.filter((x) => x.textContent === t).length, text);
}

function waitCount(page, text, count) {
  return page.waitForFunction(([t, c]) => [...document.querySelectorAll('#messages .msg .bubble')]
    .filter((x) => x.textContent === t).length === c, [text, count], { timeout: WAIT });
}

function mineFlags(page, text) {
  return page.$$eval('#messages .msg .bubble', (n, t) => n.filter((x) => x.textContent === t)
    .map((x) => x.closest('.msg').classList.contains('mine')), text);
}

