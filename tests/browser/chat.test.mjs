// The chat page in a real (headless) Chromium: two people, names, two rooms, presence, history
// after a reload, a kill -9 of the server that the open pages survive, showing what they
// missed exactly once, and a restart with a successor (1012) they reconnect through at once.
import assert from 'node:assert/strict';
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import {
  REPO_ROOT, joinChat, killServer, startServer, stopServer, withTimeout,
} from '../integration/lib/server.mjs';
import { lastMessage as lastMessageWithin, openGuardedPage } from './lib/guarded-page.mjs';

const ARTIFACTS = join(REPO_ROOT, 'artifacts');
const WAIT = 10_000;
const lastMessage = (page, text) => lastMessageWithin(page, text, WAIT);
const XSS = '<img src=x onerror=alert(1)> and <b>not bold</b>';

describe('chat page', { timeout: 120_000 }, () => {
  let dir;
  let db;
  let server;
  let browser;
  const users = {}; // name -> { page, id, problems: [], phone }
  const writers = [];

  before(async () => {
    mkdirSync(ARTIFACTS, { recursive: true });
    dir = mkdtempSync(join(tmpdir(), 'hibiki-browser-'));
    db = join(dir, 'chat.db');
    server = await startServer('chat', { db });
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
    users.b.phone = true;
  });

  after(async () => {
    await Promise.all(writers.map((w) => w.client.dispose()));
    await browser?.close().catch(() => {});
    await stopServer(server);
    rmSync(dir, { recursive: true, force: true });
  });

  test('both pages come online as "Client <id>" with distinct ids', async () => {
    for (const user of Object.values(users)) {
      assert.equal(await user.page.textContent('#status'), 'online');
      assert.match(user.id, /^\d+$/);
      assert.equal(await user.page.textContent('#my-name'), `Client ${user.id}`);
      assert.equal(await user.page.textContent('#room-name'), 'lobby');
    }
    assert.notEqual(users.a.id, users.b.id);
  });

  test('names: each picks one; the other sees it in the online list', async () => {
    await setName(users.a, 'aiko');
    await setName(users.b, 'bento');
    for (const [user, other] of [[users.a, 'bento'], [users.b, 'aiko']]) {
      await user.page.waitForFunction((n) => [...document.querySelectorAll('#members .member-name')]
        .some((x) => x.textContent === n), other, { timeout: WAIT });
    }
    const names = await users.a.page.$$eval('#members .member-name', (n) => n.map((x) => x.textContent));
    assert.deepEqual(names, ['aiko', 'bento'], 'you first, then the others');
  });

  test('send is disabled while the input is empty', async () => {
    const { page } = users.a;
    await page.fill('#input', '');
    assert.equal(await page.isDisabled('#send'), true);
    await page.fill('#input', '   ');
    assert.equal(await page.isDisabled('#send'), true);
    await page.fill('#input', '');
  });

  test('a message typed in A shows up in B with A\'s name, and in A as its own', async () => {
    const { a, b } = users;
    await a.page.fill('#input', 'hello from A');
    await a.page.click('#send');
    const inB = await lastMessage(b.page, 'hello from A');
    assert.deepEqual(inB.classes.sort(), ['msg', 'theirs']);
    assert.equal(inB.sender, a.id);
    assert.equal(inB.senderLabel, 'aiko');
    assert.match(inB.time, /\d/);
    const inA = await lastMessage(a.page, 'hello from A');
    assert.ok(inA.classes.includes('mine'), `classes: ${inA.classes}`);
    assert.ok(inA.rightGap < 4 && inA.leftGap > 200, `mine at ${JSON.stringify(inA)}`);
    assert.ok(inB.leftGap < 4, `theirs at ${JSON.stringify(inB)}`);
    assert.equal(await a.page.inputValue('#input'), '', 'input is cleared after sending');

    await b.page.fill('#input', 'reply from B');
    await b.page.press('#input', 'Enter');
    const reply = await lastMessage(a.page, 'reply from B');
    assert.equal(reply.senderLabel, 'bento');
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
    }
  });

  test('two rooms: traffic stays in its room; history on join; unread marks; presence', async () => {
    const { a, b } = users;
    await joinRoom(a, 'garden');
    await a.page.waitForFunction(() => document.querySelector('#room-name').textContent === 'garden');
    await sendText(a, 'only for the garden');
    await lastMessage(a.page, 'only for the garden');
    // B is not in the garden: nothing of it reaches B's lobby.
    await sendText(b, 'lobby ping');
    await lastMessage(b.page, 'lobby ping');
    assert.equal(await countText(b.page, 'only for the garden'), 0);

    // B joins and gets the garden's history; A sees B arrive.
    await joinRoom(b, 'garden');
    await lastMessage(b.page, 'only for the garden');
    await a.page.waitForSelector('#members .member[data-id="' + b.id + '"]', { timeout: WAIT });
    assert.equal(await a.page.textContent('#member-count'), '2');

    // B looks at the lobby; a garden message makes an unread mark there.
    await switchRoom(b, 'lobby');
    await sendText(a, 'while you were in the lobby');
    await lastMessage(a.page, 'while you were in the lobby');
    const badge = b.page.locator('.room[data-room="garden"] .unread');
    await badge.waitFor({ state: 'attached', timeout: WAIT });
    await b.page.waitForFunction(() => document.querySelector('.room[data-room="garden"] .unread')
      ?.textContent === '1', null, { timeout: WAIT });
    assert.equal(await b.page.isVisible('#menu-badge'), true, 'the phone menu button shows unread too');
    await b.page.screenshot({ path: join(ARTIFACTS, 'chat-phone-unread.png') });
    await switchRoom(b, 'garden');
    await lastMessage(b.page, 'while you were in the lobby');
    assert.equal(await b.page.locator('.room[data-room="garden"] .unread').isHidden(), true);

    // A leaves the garden: B's online list drops A and says so.
    await leaveRoom(a, 'garden');
    await b.page.waitForFunction((id) => !document.querySelector(`#members .member[data-id="${id}"]`),
      a.id, { timeout: WAIT });
    await lastNote(b.page, 'aiko left');
    assert.equal(await a.page.textContent('#room-name'), 'lobby');
  });

  test('screenshots', async () => {
    await users.a.page.screenshot({ path: join(ARTIFACTS, 'chat-desktop.png') });
    await users.b.page.screenshot({ path: join(ARTIFACTS, 'chat-phone.png') });
    await users.b.page.click('#menu');
    await users.b.page.waitForTimeout(300);
    await users.b.page.screenshot({ path: join(ARTIFACTS, 'chat-phone-drawer.png') });
    await users.b.page.click('#close-drawer');
  });

  test('a reload shows the history, the name and the rooms again', async () => {
    const { b } = users;
    await b.page.reload();
    await b.page.waitForSelector('#status[data-state="online"]', { timeout: WAIT });
    await b.page.waitForFunction(() => document.querySelector('#my-name').textContent === 'bento',
      null, { timeout: WAIT });
    b.id = await b.page.$eval('#my-id', (n) => n.dataset.id);
    assert.deepEqual(await b.page.$$eval('#rooms .room', (r) => r.map((x) => x.dataset.room)),
      ['lobby', 'garden']);
    assert.equal(await b.page.textContent('#room-name'), 'garden');
    await lastMessage(b.page, 'while you were in the lobby');
    await switchRoom(b, 'lobby');
    for (const text of ['hello from A', 'reply from B', XSS, 'lobby ping']) {
      assert.equal(await countText(b.page, text), 1, text);
    }
    const own = await lastMessage(b.page, 'reply from B');
    assert.ok(own.classes.includes('mine'), 'own messages from before the reload stay on the right');
  });

  test('after kill -9 and a restart the open pages catch up on what they missed, once', async () => {
    const { a, b } = users;
    await joinRoom(a, 'garden'); // both in lobby and garden; A looks at garden, B at lobby
    await lastMessage(a.page, 'while you were in the lobby');
    const port = server.port;
    const killed = await killServer(server);
    assert.equal(killed.signal, 'SIGKILL');
    // Wait until each page failed its first retry: the next one is at least 1.6 s away, time
    // enough to restart and post before either page is back.
    for (const user of [a, b]) {
      await user.page.waitForSelector('#status[data-state="reconnecting"]', { timeout: WAIT });
      await user.page.waitForFunction(() => [...document.querySelectorAll('#log .log-text')]
        .some((n) => n.textContent.includes('(attempt 2)')), null, { timeout: WAIT });
    }
    await a.page.screenshot({ path: join(ARTIFACTS, 'chat-desktop-reconnecting.png') });
    assert.equal(await a.page.isDisabled('#send'), true);

    server = await startServer('chat', { db, port });
    const writer = await joinChat(server, '/', { name: 'writer' });
    writers.push(writer);
    await writer.client.send('{"action":"join","room":"garden"}');
    await writer.client.nextOfType('history');
    const missed = ['missed one', 'missed two', 'missed three'];
    for (const text of missed) {
      await writer.client.send(JSON.stringify({ action: 'message', room: 'garden', message: text }));
      await writer.client.send(JSON.stringify({ action: 'message', room: 'lobby', message: `${text} (lobby)` }));
    }
    let echoes = 0;
    while (echoes < 6) if ((await writer.client.nextJson()).type === 'message') echoes += 1;
    // Neither page was back yet: what they show next can only come from resuming with since.
    for (const user of [a, b]) {
      assert.equal(await user.page.textContent('#status'), 'reconnecting');
    }

    for (const user of [a, b]) {
      await user.page.waitForSelector('#status[data-state="online"]', { timeout: 15_000 });
      const room = await user.page.textContent('#room-name');
      const other = room === 'garden' ? 'lobby' : 'garden';
      const suffix = room === 'garden' ? '' : ' (lobby)';
      for (const text of missed) await lastMessage(user.page, text + suffix);
      // The other room caught up too (an unread mark) and shows each message once.
      await switchRoom(user, other);
      const otherSuffix = other === 'garden' ? '' : ' (lobby)';
      for (const text of missed) await lastMessage(user.page, text + otherSuffix);
      for (const name of ['garden', 'lobby']) {
        if ((await user.page.textContent('#room-name')) !== name) await switchRoom(user, name);
        const ids = await user.page.$$eval('#messages .msg[data-id]', (n) => n.map((x) => x.dataset.id));
        assert.equal(new Set(ids).size, ids.length, `no duplicates in ${name}: ${ids}`);
        const s = name === 'garden' ? '' : ' (lobby)';
        for (const text of missed) assert.equal(await countText(user.page, text + s), 1, text + s);
      }
      // It resumed rather than reloading: the join it sent carried since.
      const sent = await user.page.$$eval('#log .log-out .log-text', (n) => n.map((x) => x.textContent));
      assert.ok(sent.some((t) => /"action":"join","room":"garden","since":\d+/.test(t)), sent.join('\n'));
      assert.ok(sent.some((t) => /"action":"hello","name":"\w+","since":\d+/.test(t)), sent.join('\n'));
    }
    // Live traffic after the catch-up arrives once as well.
    await writer.client.send('{"action":"message","room":"lobby","message":"back to normal"}');
    for (const user of [a, b]) {
      if ((await user.page.textContent('#room-name')) !== 'lobby') await switchRoom(user, 'lobby');
      await lastMessage(user.page, 'back to normal');
      assert.equal(await countText(user.page, 'back to normal'), 1);
    }
    await users.b.page.screenshot({ path: join(ARTIFACTS, 'chat-phone-after-restart.png') });
  });

  test('a successor on the same port takes over (1012): the pages reconnect at once, miss nothing', async () => {
    const { a, b } = users;
    const old = server;
    const successor = await startServer('chat', { db, port: old.port });
    // The successor told the old process to go (SIGUSR2): it closed everyone with 1012.
    const exit = await withTimeout(old.exited, 15_000, 'the old process to hand over');
    assert.deepEqual(exit, { code: 0, signal: null });
    server = successor;
    const writer = await joinChat(server, '/', { name: 'after-restart' });
    writers.push(writer);
    await writer.client.send('{"action":"message","room":"lobby","message":"said after the handover"}');
    for (const user of [a, b]) {
      await user.page.waitForSelector('#status[data-state="online"]', { timeout: 5000 });
      const log = await user.page.$$eval('#log .log-text', (n) => n.map((x) => x.textContent));
      assert.ok(log.some((t) => t.includes('closed: code 1012')), log.join('\n'));
      assert.ok(log.some((t) => t.includes('reconnecting in 0.0 s')), log.join('\n'));
      if ((await user.page.textContent('#room-name')) !== 'lobby') await switchRoom(user, 'lobby');
      await lastMessage(user.page, 'said after the handover');
      assert.equal(await countText(user.page, 'said after the handover'), 1);
      const ids = await user.page.$$eval('#messages .msg[data-id]', (n) => n.map((x) => x.dataset.id));
      assert.equal(new Set(ids).size, ids.length, `no duplicates: ${ids}`);
    }
  });

  test('no page errors, dialogs or off-host requests happened', () => {
    for (const [name, user] of Object.entries(users)) {
      assert.deepEqual(user.problems, [], `problems in page ${name}`);
    }
  });
});

async function openUser(browser, server, contextOptions) {
  const { page, problems } =
    await openGuardedPage(browser, `${server.url}/`, { contextOptions, timeout: WAIT });
  await page.waitForFunction(() => /^\d+$/.test(document.querySelector('#my-id').dataset.id ?? ''),
    null, { timeout: WAIT });
  const id = await page.$eval('#my-id', (n) => n.dataset.id);
  return { page, id, problems, phone: false };
}

// On a phone the rooms and names live in the drawer.
async function withDrawer(user, action) {
  if (user.phone && (await user.page.getAttribute('#app', 'data-drawer')) !== 'open') {
    await user.page.click('#menu');
  }
  await action();
  if (user.phone && (await user.page.getAttribute('#app', 'data-drawer')) === 'open') {
    await user.page.click('#close-drawer');
    await user.page.waitForTimeout(250); // let the drawer slide away (screenshots)
  }
}

async function setName(user, name) {
  await withDrawer(user, async () => {
    await user.page.click('#edit-name');
    await user.page.fill('#nick-input', name);
    await user.page.press('#nick-input', 'Enter');
    await user.page.waitForFunction((n) => document.querySelector('#my-name').textContent === n, name,
      { timeout: WAIT });
  });
}

async function joinRoom(user, room) {
  await withDrawer(user, async () => {
    await user.page.fill('#join-input', room);
    await user.page.press('#join-input', 'Enter');
  });
  await user.page.waitForSelector(`.room[data-room="${room}"][data-joined="true"]`, { timeout: WAIT });
}

async function switchRoom(user, room) {
  await withDrawer(user, () => user.page.click(`.room[data-room="${room}"] .room-button`));
  await user.page.waitForFunction((r) => document.querySelector('#room-name').textContent === r, room,
    { timeout: WAIT });
}

async function leaveRoom(user, room) {
  await withDrawer(user, () => user.page.click(`.room[data-room="${room}"] .leave`));
  await user.page.waitForSelector(`.room[data-room="${room}"]`, { state: 'detached', timeout: WAIT });
}

async function sendText(user, text) {
  await user.page.fill('#input', text);
  await user.page.press('#input', 'Enter');
}

function countText(page, text) {
  return page.$$eval('#messages .msg .bubble', (n, t) => n.filter((x) => x.textContent === t).length, text);
}

async function lastNote(page, text) {
  await page.waitForFunction((t) => [...document.querySelectorAll('#messages .msg.note')]
    .some((n) => n.textContent === t), text, { timeout: WAIT });
}

