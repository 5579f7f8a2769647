// The chat page through HAProxy in front of three `hibiki chat --redis` nodes and one Redis,
// set up as examples/cluster does it: the example's own haproxy.cfg (ports from the
// environment) and redis.conf. Two pages chat across nodes; then the node holding the first
// page's WebSocket is killed with SIGKILL, and the page must come back through HAProxy on
// another node by itself, resume with `since`, and keep chatting — nothing lost, nothing twice.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import {
  eventually, freePort, startNode, startRedis, waitReady,
} from '../integration/lib/cluster.mjs';
import { HOST, REPO_ROOT, httpGet, withTimeout } from '../integration/lib/server.mjs';
import { lastMessage as lastMessageWithin, openGuardedPage } from './lib/guarded-page.mjs';

const HAPROXY_CFG = join(REPO_ROOT, 'examples/cluster/haproxy.cfg');
const WAIT = 10_000;
// From SIGKILL to the page being online again: HAProxy sees the close at once, the page
// retries after 0.8-1.2 s, and HAProxy sends a retry that hits the dead node elsewhere.
// Generous, for a loaded CI machine running a debug build.
const FAILOVER_WAIT = 20_000;
// The flags start.sh gives its nodes that matter behind HAProxy.
const NODE_ARGS = ['--max-connections-per-ip', '0'];
const lastMessage = (page, text) => lastMessageWithin(page, text, WAIT);

describe('chat page through HAProxy in front of three cluster nodes', { timeout: 150_000 }, () => {
  let redis;
  const nodes = [];
  let haproxy;
  let browser;
  const users = {}; // a, b -> { page, problems, id, node }

  before(async () => {
    redis = await startRedis();
    for (let i = 1; i <= 3; ++i) {
      nodes.push(await startNode(redis.url, { nodeId: `node-${i}`, args: NODE_ARGS }));
    }
    await Promise.all(nodes.map((node) => waitReady(node)));
    haproxy = await startHaproxy(nodes);
    browser = await chromium.launch({
      executablePath: process.env.CHROMIUM_BIN || '/usr/bin/chromium',
      headless: true,
      timeout: 30_000,
      args: ['--no-sandbox', '--disable-gpu', '--disable-quic', '--no-first-run',
        '--disable-background-networking', '--disable-component-update', '--disable-sync'],
    });
  });

  after(async () => {
    // Each step on its own: one that fails must not leave the others' processes behind.
    await browser?.close().catch(() => {});
    await haproxy?.stop().catch((err) => console.log(`# stopping HAProxy: ${err.message}`));
    await Promise.all(nodes.map((node) => node.kill('SIGTERM').catch(async () => {
      await node.kill('SIGKILL').catch(() => {});
    })));
    await redis?.stop().catch((err) => console.log(`# stopping Redis: ${err.message}`));
  });

  test('two pages through HAProxy land on different nodes and chat', async () => {
    // One page at a time: the node whose WebSocket upgrades went up by one holds that page.
    users.a = await openUser(browser, nodes, haproxy, { viewport: { width: 1280, height: 800 } });
    users.b = await openUser(browser, nodes, haproxy, { viewport: { width: 1024, height: 700 },
      colorScheme: 'dark' });
    // Least connections: the second page goes to a node without one.
    assert.notEqual(users.a.node, users.b.node);
    assert.notEqual(users.a.id, users.b.id);

    await setName(users.a, 'aiko');
    await setName(users.b, 'bento');
    await sendText(users.a, 'hello from A');
    await sendText(users.b, 'hello from B');
    for (const [user, other] of [[users.a, users.b], [users.b, users.a]]) {
      const theirs = await lastMessage(user.page, other === users.a ? 'hello from A' : 'hello from B');
      assert.equal(theirs.sender, other.id);
      assert.deepEqual(theirs.classes.sort(), ['msg', 'theirs']);
      const mine = await lastMessage(user.page, user === users.a ? 'hello from A' : 'hello from B');
      assert.ok(mine.classes.includes('mine'));
    }
  });

  test("SIGKILL of the first page's node: it reconnects through HAProxy to another node and keeps chatting", async () => {
    const { a, b } = users;
    const victim = a.node;
    const survivors = nodes.filter((node) => node !== victim);
    const upgradesBefore = await Promise.all(survivors.map(upgrades));
    const killedAt = Date.now();
    const exit = await victim.kill('SIGKILL');
    assert.equal(exit.signal, 'SIGKILL');

    // While A is away, B (on a node that lives) goes on talking: A can only get this by
    // resuming the lobby with `since`.
    await sendText(b, 'while A was away');
    await lastMessage(b.page, 'while A was away');

    // The page noticed (HAProxy closes its side when the node's socket dies) and came back.
    await a.page.waitForFunction(() => [...document.querySelectorAll('#log .log-text')]
      .some((n) => n.textContent.startsWith('closed: code')), null, { timeout: FAILOVER_WAIT });
    await a.page.waitForSelector('#status[data-state="online"]', { timeout: FAILOVER_WAIT });
    const onlineAt = Date.now();
    await a.page.waitForFunction(() => /^\d+$/.test(document.querySelector('#my-id').dataset.id ?? ''),
      null, { timeout: WAIT });
    const newId = await a.page.$eval('#my-id', (n) => n.dataset.id);
    assert.notEqual(newId, a.id, 'a new connection, with a new id');

    // Through HAProxy to a node that lives: exactly one more upgrade among the survivors.
    const upgradesAfter = await Promise.all(survivors.map(upgrades));
    const moved = upgradesAfter.map((n, i) => n - upgradesBefore[i]);
    assert.equal(moved.reduce((x, y) => x + y, 0), 1, `upgrades on the other nodes: ${moved}`);
    a.node = survivors[moved.indexOf(1)];
    a.id = newId;

    // Both ways after the failover.
    await sendText(a, 'A after the failover');
    await lastMessage(b.page, 'A after the failover');
    const deliveredAt = Date.now();
    await sendText(b, 'B after the failover');
    await lastMessage(a.page, 'B after the failover');
    const inB = await lastMessage(b.page, 'A after the failover');
    assert.equal(inB.sender, newId, 'B sees it from the new connection');
    assert.ok((await lastMessage(a.page, 'A after the failover')).classes.includes('mine'));

    // What B said while A was away reached A once, by resuming with since, as did the rest.
    const texts = ['hello from A', 'hello from B', 'while A was away', 'A after the failover',
      'B after the failover'];
    for (const user of [a, b]) {
      for (const text of texts) assert.equal(await countText(user.page, text), 1, text);
      const ids = await user.page.$$eval('#messages .msg[data-id]', (n) => n.map((x) => x.dataset.id));
      assert.equal(new Set(ids).size, ids.length, `no message twice: ${ids}`);
    }
    const sent = await a.page.$$eval('#log .log-out .log-text', (n) => n.map((x) => x.textContent));
    assert.ok(sent.some((t) => /"action":"hello","name":"[^"]+","since":\d+/.test(t)), sent.join('\n'));
    assert.equal(await b.page.textContent('#status'), 'online');
    console.log(`# failover: page online again ${onlineAt - killedAt} ms after SIGKILL; ` +
      `its next message reached the other page after ${deliveredAt - killedAt} ms`);
  });

  test('no page errors, dialogs or off-host requests happened', () => {
    for (const [name, user] of Object.entries(users)) {
      assert.deepEqual(user.problems, [], `problems in page ${name}`);
    }
  });
});

/**
 * HAProxy with examples/cluster/haproxy.cfg, in the foreground (-db), on free ports; resolves
 * once the status page shows every node up after a check. Returns { port, url, statsPort,
 * log, stop() }. A port taken between freePort and HAProxy's bind is tried again.
 */
async function startHaproxy(nodes) {
  for (let attempt = 1; ; ++attempt) {
    const proxy = { port: await freePort(), statsPort: await freePort(), log: '' };
    const env = {
      ...process.env,
      HIBIKI_CLUSTER_HOST: HOST,
      HIBIKI_CLUSTER_PORT: String(proxy.port),
      HIBIKI_CLUSTER_STATS_PORT: String(proxy.statsPort),
    };
    nodes.forEach((node, i) => { env[`HIBIKI_NODE${i + 1}_PORT`] = String(node.port); });
    const child = spawn('haproxy', ['-f', HAPROXY_CFG, '-db'], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    proxy.url = `http://${HOST}:${proxy.port}`;
    const exited = new Promise((res) => child.once('exit', (code, signal) => res({ code, signal })));
    let gone = false;
    exited.then(() => { gone = true; });
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding('utf8').on('data', (d) => { proxy.log += d; });
    }
    child.once('error', (err) => { proxy.log += `spawn: ${err.message}\n`; });
    proxy.stop = async () => {
      if (!gone) process.kill(child.pid, 'SIGTERM');
      await withTimeout(exited, 5000, 'HAProxy to stop').catch(async () => {
        if (!gone) process.kill(child.pid, 'SIGKILL');
        await withTimeout(exited, 5000, 'HAProxy to die');
      });
    };
    try {
      await eventually(async () => {
        if (gone) throw new Error(`HAProxy exited:\n${proxy.log}`);
        const up = await serverStates(proxy).catch(() => []);
        return up.length === nodes.length && up.every((s) => s.status === 'UP' && s.check_status === 'L7OK');
      }, WAIT, 'HAProxy to find all three nodes up');
      return proxy;
    } catch (err) {
      await proxy.stop().catch(() => {});
      if (attempt < 3 && /cannot bind|Address already in use/.test(proxy.log)) continue;
      throw err;
    }
  }
}

/** The servers of the backend as HAProxy's status page reports them (CSV). */
async function serverStates(proxy) {
  const { status, body } = await httpGet(proxy.statsPort, '/;csv');
  if (status !== 200) return [];
  const [head, ...rows] = body.trim().split('\n');
  const columns = head.replace(/^# /, '').split(',');
  return rows.map((row) => Object.fromEntries(row.split(',').map((v, i) => [columns[i], v])))
    .filter((s) => s.pxname === 'hibiki' && s.svname.startsWith('node-'));
}

/** hibiki_websocket_upgrades_total of a node: WebSockets it has accepted so far. */
async function upgrades(node) {
  const { body } = await httpGet(node.port, '/metrics');
  const m = /^hibiki_websocket_upgrades_total (\d+)$/m.exec(body);
  assert.ok(m, 'hibiki_websocket_upgrades_total in /metrics');
  return Number(m[1]);
}

/** Opens the page through HAProxy and finds the node that took its WebSocket. */
async function openUser(browser, nodes, proxy, contextOptions) {
  const before = await Promise.all(nodes.map(upgrades));
  const { page, problems } = await openGuardedPage(browser, `${proxy.url}/`,
    { contextOptions, timeout: WAIT });
  await page.waitForFunction(() => /^\d+$/.test(document.querySelector('#my-id').dataset.id ?? ''),
    null, { timeout: WAIT });
  const id = await page.$eval('#my-id', (n) => n.dataset.id);
  const deltas = (await Promise.all(nodes.map(upgrades))).map((n, i) => n - before[i]);
  assert.deepEqual(deltas.toSorted(), [0, 0, 1], `one upgrade on one node: ${deltas}`);
  return { page, problems, id, node: nodes[deltas.indexOf(1)] };
}

async function setName(user, name) {
  await user.page.click('#edit-name');
  await user.page.fill('#nick-input', name);
  await user.page.press('#nick-input', 'Enter');
  await user.page.waitForFunction((n) => document.querySelector('#my-name').textContent === n, name,
    { timeout: WAIT });
}

async function sendText(user, text) {
  await user.page.fill('#input', text);
  await user.page.press('#input', 'Enter');
}

function countText(page, text) {
  return page.$$eval('#messages .msg .bubble', (n, t) => n.filter((x) => x.textContent === t).length, text);
}
