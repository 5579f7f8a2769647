// The chat page served by `hibiki gateway` itself, in front of the PHP example backend
// (examples/php-chat under `php -S`, with the example's gateway.toml): the page's hello matches
// no route, the gateway answers API Gateway's Forbidden frame, and the page switches to basic
// mode. Two pages then chat through PHP and the @connections API. Needs php with curl and
// pdo_sqlite; without it this file fails and says so.
import assert from 'node:assert/strict';
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import { HOST, REPO_ROOT, stopServer } from '../integration/lib/server.mjs';
import {
  eventually, freePort, phpConnectionIds, phpExampleToml, requirePhp, startGateway, startPhp,
  stopGateway, tempDir,
} from '../integration/lib/gateway.mjs';
import { openGuardedPage } from './lib/guarded-page.mjs';

const ARTIFACTS = join(REPO_ROOT, 'artifacts');
const WAIT = 10_000;
const BASIC_NOTE = 'basic server: rooms and names unavailable';
const MARKUP = 'hi <b>not bold</b> from B';

describe('chat page on hibiki gateway + the PHP example', { timeout: 90_000 }, () => {
  let dir;
  let chatDb;
  let php;
  let gateway;
  let browser;
  const users = {}; // a, b -> { page, problems, id }

  before(async () => {
    requirePhp();
    mkdirSync(ARTIFACTS, { recursive: true });
    dir = tempDir('hibiki-gw-browser-');
    chatDb = join(dir.path, 'connections.sqlite3');
    const [phpPort, managementPort] = [await freePort(), await freePort()];
    php = await startPhp({ port: phpPort, chatDb,
      managementEndpoint: `http://${HOST}:${managementPort}/dev` });
    gateway = await startGateway(phpExampleToml(php.url), { managementPort });
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
      headless: true,
      timeout: 30_000,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
    users.a = await openUser({ viewport: { width: 1280, height: 800 }, colorScheme: 'light' });
    users.b = await openUser({ viewport: { width: 1024, height: 700 }, colorScheme: 'dark' });
  });

  after(async () => {
    await browser?.close().catch(() => {});
    await stopGateway(gateway);
    await stopServer(php);
    dir?.cleanup();
  });

  /** Opens the page from the gateway's port; its id is the row its $connect added. */
  async function openUser(contextOptions) {
    const known = phpConnectionIds(chatDb);
    const { page, problems } =
      await openGuardedPage(browser, `${gateway.url}/`, { contextOptions, timeout: WAIT });
    await page.waitForSelector('#app[data-mode="basic"]', { state: 'attached', timeout: WAIT });
    const added = await eventually(() => {
      const ids = phpConnectionIds(chatDb).filter((id) => !known.includes(id));
      return ids.length ? ids : null;
    }, WAIT, 'the page\'s row in the PHP table');
    assert.equal(added.length, 1);
    return { page, problems, id: added[0] };
  }

  test('the gateway serves the page; hello gets Forbidden, so both pages are in basic mode', async () => {
    assert.notEqual(users.a.id, users.b.id);
    assert.deepEqual(phpConnectionIds(chatDb), [users.a.id, users.b.id].sort());
    for (const { page } of Object.values(users)) {
      assert.equal(await page.textContent('#status'), 'online');
      assert.equal(await page.textContent('#room-meta'), BASIC_NOTE);
      assert.equal(await page.textContent('#my-id'), 'id not known');
      const log = await page.$$eval('#log .log-text', (n) => n.map((x) => x.textContent));
      assert.ok(log.includes('the server does not know hello: basic mode'), log.join('\n'));
      assert.ok(!log.some((t) => t.startsWith('no welcome')), 'the Forbidden frame decided it');
    }
  });

  test('both pages send; both see both messages once, as "Client <id>", own on the right', async () => {
    const { a, b } = users;
    await sendText(a.page, 'hello from A');
    await waitForText(a.page, 'hello from A');
    await sendText(b.page, MARKUP);
    for (const [user, own, other, otherId] of [[a, 'hello from A', MARKUP, b.id],
      [b, MARKUP, 'hello from A', a.id]]) {
      const mine = await describeMessage(user.page, own);
      const theirs = await describeMessage(user.page, other);
      assert.deepEqual(mine.classes.sort(), ['mine', 'msg']);
      assert.deepEqual(theirs.classes.sort(), ['msg', 'theirs']);
      assert.equal(mine.senderLabel, `Client ${user.id}`);
      assert.equal(theirs.senderLabel, `Client ${otherId}`);
      assert.ok(mine.rightGap < 4 && mine.leftGap > 20, `mine at ${JSON.stringify(mine)}`);
      assert.ok(theirs.leftGap < 4 && theirs.rightGap > 20, `theirs at ${JSON.stringify(theirs)}`);
      for (const text of [own, other]) assert.equal(await countText(user.page, text), 1, text);
      assert.equal(await user.page.locator('#messages b').count(), 0, 'markup shown as text');
    }
  });

  test('screenshot', async () => {
    await users.a.page.waitForTimeout(300); // the newest bubble's fade-in
    await users.a.page.screenshot({ path: join(ARTIFACTS, 'gateway-php-desktop.png') });
  });

  test('no page errors, dialogs or off-host requests happened', () => {
    for (const [name, user] of Object.entries(users)) {
      assert.deepEqual(user.problems, [], `problems in page ${name}`);
    }
  });
});

async function sendText(page, text) {
  await page.fill('#input', text);
  await page.press('#input', 'Enter');
}

function waitForText(page, text) {
  return page.waitForFunction((t) => [...document.querySelectorAll('#messages .msg .bubble')]
    .some((n) => n.textContent === t), text, { timeout: WAIT });
}

function countText(page, text) {
  return page.$$eval('#messages .msg .bubble', (n, t) => n.filter((x) => x.textContent === t).length, text);
}

/** Waits for the newest .msg whose bubble text equals `text` and describes it. */
async function describeMessage(page, text) {
  await waitForText(page, text);
  return page.evaluate((t) => {
    const bubbles = [...document.querySelectorAll('#messages .msg .bubble')].filter((n) => n.textContent === t);
    const msg = bubbles.at(-1).closest('.msg');
    const list = document.querySelector('#messages').getBoundingClientRect();
    const box = msg.getBoundingClientRect();
    return {
      classes: [...msg.classList].filter((c) => c !== 'cont'),
      senderLabel: msg.querySelector('.sender')?.textContent,
      leftGap: Math.round(box.left - list.left),
      rightGap: Math.round(list.right - box.right),
    };
  }, text);
}
