// The chat page through HAProxy in front of three `hibiki chat --redis` nodes and one Redis,
// set up as examples/cluster does it: the example's own haproxy.cfg (ports from the
// environment) and redis.conf. Two pages chat across nodes; then the node holding the first
// page's WebSocket is killed with SIGKILL, and the page must come back through HAProxy on
// another node by itself, resume with `since`, and keep chatting — nothing lost, nothing twice.
// Last, examples/cluster/start.sh itself: up on the ports it is given, and all gone on SIGTERM.
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { chromium } from 'playwright-core';
import {
  Peer, eventually, freePort, startNode, startRedis, waitReady,
} from '../integration/lib/cluster.mjs';
import { HOST, REPO_ROOT, hibikiBin, httpGet, withTimeout } from '../integration/lib/server.mjs';
import { lastMessage as lastMessageWithin, openGuardedPage } from './lib/guarded-page.mjs';

const HAPROXY_CFG = join(REPO_ROOT, 'examples/cluster/haproxy.cfg');
const START_SH = join(REPO_ROOT, 'examples/cluster/start.sh');
const WAIT = 10_000;
// SIGKILL to online again takes about 1 s (the page's first retry); generous for a loaded CI
// machine running a debug build.
const FAILOVER_WAIT = 20_000;
// What start.sh gives its nodes that matters behind HAProxy.
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
    await withTimeout(browser?.close() ?? Promise.resolve(), 15_000, 'Chromium to close')
      .catch((err) => console.log(`# ${err.message}`));
    await haproxy?.stop().catch((err) => console.log(`# stopping HAProxy: ${err.message}`));
    await Promise.all(nodes.map((node) => node.kill('SIGTERM')
      .catch(() => node.kill('SIGKILL')).catch(() => {})));
    await redis?.stop().catch((err) => console.log(`# stopping Redis: ${err.message}`));
  });

  // A failure carries the end of HAProxy's and the nodes' logs: the cause is often there.
  const explained = (fn) => async () => {
    try {
      await fn();
    } catch (err) {
      const tail = (text = '') => text.trimEnd().split('\n').slice(-15).join('\n');
      err.message += `\n--- HAProxy:\n${tail(haproxy?.log)}`;
      nodes.forEach((node, i) => {
        err.message += `\n--- node-${i + 1} (port ${node.port}):\n${tail(node.stderr)}`;
      });
      throw err;
    }
  };

  test('two pages through HAProxy land on different nodes and chat', explained(async () => {
    users.a = await openUser(browser, nodes, haproxy, { viewport: { width: 1280, height: 800 } });
    users.b = await openUser(browser, nodes, haproxy, { viewport: { width: 1024, height: 700 },
      colorScheme: 'dark' });
    // Least connections: the second page goes to a node that has none.
    assert.notEqual(users.a.node, users.b.node);
    assert.notEqual(users.a.id, users.b.id);

    await setName(users.a, 'aiko');
    await setName(users.b, 'bento');
    await sendText(users.a, 'hello from A');
    await sendText(users.b, 'hello from B');
    for (const [user, other, own, theirs] of [[users.a, users.b, 'hello from A', 'hello from B'],
      [users.b, users.a, 'hello from B', 'hello from A']]) {
      const got = await lastMessage(user.page, theirs);
      assert.equal(got.sender, other.id);
      assert.equal(got.senderLabel, other === users.a ? 'aiko' : 'bento');
      assert.deepEqual(got.classes.sort(), ['msg', 'theirs']);
      assert.ok((await lastMessage(user.page, own)).classes.includes('mine'));
    }
  }));

  test("SIGKILL of the first page's node: the page comes back through HAProxy on another node",
    explained(async () => {
      const { a, b } = users;
      const victim = a.node;
      const survivors = nodes.filter((node) => node !== victim);
      const upgradesBefore = await Promise.all(survivors.map((node) => upgrades(node.port)));
      await Promise.all([a, b].map((user) => recordTimes(user.page)));
      const killedAt = Date.now();
      assert.equal((await victim.kill('SIGKILL')).signal, 'SIGKILL');

      // While A is away, B (on a node that lives) goes on talking: A can only get this by
      // resuming the lobby with `since`.
      await sendText(b, 'while A was away');
      await lastMessage(b.page, 'while A was away');

      // HAProxy closes the page's side as soon as the node's socket dies; the page reconnects
      // on its own, through HAProxy, which keeps it off the dead node.
      await a.page.waitForFunction(() => [...document.querySelectorAll('#log .log-text')]
        .some((n) => n.textContent.startsWith('closed: code')), null, { timeout: FAILOVER_WAIT });
      await a.page.waitForSelector('#status[data-state="online"]', { timeout: FAILOVER_WAIT });
      const newId = await myId(a.page);
      assert.notEqual(newId, a.id, 'a new connection, with a new id');
      const moved = (await Promise.all(survivors.map((node) => upgrades(node.port))))
        .map((n, i) => n - upgradesBefore[i]);
      assert.deepEqual(moved.toSorted(), [0, 1], `one upgrade on a node that lives: ${moved}`);

      // Both ways after the failover. B sees A's new connection.
      await sendText(a, 'A after the failover');
      const inB = await lastMessage(b.page, 'A after the failover');
      assert.equal(inB.sender, newId);
      await sendText(b, 'B after the failover');
      await lastMessage(a.page, 'B after the failover');
      assert.ok((await lastMessage(a.page, 'A after the failover')).classes.includes('mine'));

      // Every message once on both pages: what B said meanwhile came with the resume.
      const texts = ['hello from A', 'hello from B', 'while A was away', 'A after the failover',
        'B after the failover'];
      for (const user of [a, b]) {
        for (const text of texts) assert.equal(await countText(user.page, text), 1, text);
        const ids = await user.page.$$eval('#messages .msg[data-id]',
          (n) => n.map((x) => x.dataset.id));
        assert.equal(new Set(ids).size, ids.length, `no message twice: ${ids}`);
      }
      const sent = await a.page.$$eval('#log .log-out .log-text',
        (n) => n.map((x) => x.textContent));
      assert.ok(sent.some((t) => /"action":"hello","name":"[^"]+","since":\d+/.test(t)),
        sent.join('\n'));
      assert.equal(await b.page.textContent('#status'), 'online');

      // Its name: the killed node's member kept it until the other nodes took that node for
      // dead (~10 s after the kill), so A came back as a suffixed name; when that member
      // leaves, the page asks for its name again and gets it.
      await a.page.waitForFunction((n) => document.querySelector('#my-name').textContent === n,
        'aiko', { timeout: 20_000 });

      // By the pages' own clocks (this machine's), not by this test's polling.
      const [timesA, timesB] = await Promise.all([a, b].map((user) =>
        user.page.evaluate(() => window.testTimes)));
      const since = (t) => `+${t - killedAt} ms`;
      const first = (state) => timesA.states.find(([s]) => s === state)?.[1];
      console.log(`# after SIGKILL: page closed ${since(first('reconnecting'))}, online again ` +
        `${since(first('online'))}, its next message on the other page ` +
        `${since(timesB.seen['A after the failover'])}`);
    }));

  test('no page errors, dialogs or off-host requests happened', () => {
    for (const [name, user] of Object.entries(users)) {
      assert.deepEqual(user.problems, [], `problems in page ${name}`);
    }
  });
});

// What the README tells users to run: the whole cluster from the script, on the ports it is
// given, reachable through HAProxy, and gone — every process it started — after SIGTERM.
describe('examples/cluster/start.sh', { timeout: 90_000 }, () => {
  test('starts the cluster, serves the chat through HAProxy, refuses taken ports, stops on SIGTERM',
    async () => {
      const dir = mkdtempSync(join(tmpdir(), 'hibiki-cluster-example-'));
      let run;
      try {
        run = await startScript(dir);
        const { env } = run;
        assert.deepEqual(Object.keys(run.pids).sort(),
          ['haproxy', 'node-1', 'node-2', 'node-3', 'redis']);
        const page = await httpGet(env.HIBIKI_CLUSTER_PORT, '/');
        assert.equal(page.status, 200);
        assert.match(page.body, /<title>/);

        // Three WebSockets through HAProxy, one on each node (least connections), one chat.
        const front = { wsUrl: `ws://${HOST}:${env.HIBIKI_CLUSTER_PORT}` };
        const peers = [];
        try {
          for (let i = 0; i < 3; ++i) {
            const peer = await Peer.connect(front);
            peers.push(peer);
            await peer.hello(`user${i}`);
          }
          await peers[0].send({ action: 'message', message: 'through the example' });
          for (const peer of peers) {
            await peer.waitFor((f) => f.type === 'message' && f.text === 'through the example',
              { what: 'the message on every node' });
          }
          const ports = [env.HIBIKI_NODE1_PORT, env.HIBIKI_NODE2_PORT, env.HIBIKI_NODE3_PORT];
          assert.deepEqual(await Promise.all(ports.map(upgrades)), [1, 1, 1]);
        } finally {
          await Promise.all(peers.map((p) => p.close()));
        }

        // A second cluster on the same ports is refused before it starts anything.
        const clash = await runToEnd(spawn(START_SH, [],
          { env, stdio: ['ignore', 'pipe', 'pipe'] }));
        assert.equal(clash.code, 1);
        assert.match(clash.output,
          new RegExp(`port ${env.HIBIKI_CLUSTER_PORT}, wanted for HAProxy .* is taken`));

        run.child.kill('SIGTERM');
        const end = await withTimeout(run.ended, 30_000, 'start.sh to stop the cluster');
        assert.equal(end.code, 143, run.output());
        assert.match(run.output(), /cluster: stopped/);
        for (const [what, pid] of Object.entries(run.pids)) {
          assert.equal(isRunning(pid), false, `${what} (pid ${pid}) still runs`);
        }
        assert.ok(existsSync(join(dir, 'redis', 'appendonlydir')), 'the AOF in the data directory');
      } finally {
        if (run) await stopScript(run);
        rmSync(dir, { recursive: true, force: true });
      }
    });
});

/**
 * HAProxy with examples/cluster/haproxy.cfg in the foreground (-db), on free ports, in front
 * of `nodes`; resolves once its status page shows every node up after a check. Returns
 * { port, url, statsPort, log, stop() }. A port taken before HAProxy binds it is tried again.
 */
async function startHaproxy(nodes) {
  for (let attempt = 1; ; ++attempt) {
    const proxy = { port: await freePort(), statsPort: await freePort(), log: '' };
    proxy.url = `http://${HOST}:${proxy.port}`;
    const env = {
      ...process.env,
      HIBIKI_CLUSTER_HOST: HOST,
      HIBIKI_CLUSTER_PORT: String(proxy.port),
      HIBIKI_CLUSTER_STATS_PORT: String(proxy.statsPort),
    };
    nodes.forEach((node, i) => { env[`HIBIKI_NODE${i + 1}_PORT`] = String(node.port); });
    const child = spawn('haproxy', ['-f', HAPROXY_CFG, '-db'],
      { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let gone = false;
    const exited = new Promise((res) => child.once('exit', () => {
      gone = true;
      res();
    }));
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding('utf8').on('data', (d) => { proxy.log += d; });
    }
    child.once('error', (err) => { proxy.log += `spawn: ${err.message}\n`; });
    proxy.stop = async () => {
      if (!gone) child.kill('SIGTERM');
      await withTimeout(exited, 5000, 'HAProxy to stop').catch(async () => {
        if (!gone) child.kill('SIGKILL');
        await withTimeout(exited, 5000, 'HAProxy to die');
      });
    };
    try {
      await eventually(async () => {
        if (gone) throw new Error(`HAProxy exited:\n${proxy.log}`);
        const servers = await serverStates(proxy.statsPort).catch(() => []);
        return servers.length === nodes.length &&
          servers.every((s) => s.status === 'UP' && s.check_status === 'L7OK');
      }, WAIT, 'HAProxy to find all three nodes up');
      return proxy;
    } catch (err) {
      await proxy.stop().catch(() => {});
      if (attempt < 3 && /cannot bind|Address already in use/.test(proxy.log)) continue;
      throw err;
    }
  }
}

/** The backend's servers as HAProxy's status page reports them (its CSV export). */
async function serverStates(statsPort) {
  const { status, body } = await httpGet(statsPort, '/;csv');
  if (status !== 200) return [];
  const [head, ...rows] = body.trim().split('\n');
  const columns = head.replace(/^# /, '').split(',');
  return rows.map((row) => Object.fromEntries(row.split(',').map((v, i) => [columns[i], v])))
    .filter((s) => s.pxname === 'hibiki' && s.svname.startsWith('node-'));
}

/** The WebSockets a node has accepted so far (hibiki_websocket_upgrades_total). */
async function upgrades(port) {
  const { body } = await httpGet(port, '/metrics');
  const m = /^hibiki_websocket_upgrades_total (\d+)$/m.exec(body);
  assert.ok(m, 'hibiki_websocket_upgrades_total in /metrics');
  return Number(m[1]);
}

/**
 * Opens the page through HAProxy and finds the node that took its WebSocket: the one whose
 * upgrades went up by one meanwhile (pages are opened one at a time; HAProxy's health checks
 * are plain HTTP).
 */
async function openUser(browser, nodes, proxy, contextOptions) {
  const before = await Promise.all(nodes.map((node) => upgrades(node.port)));
  const { page, problems } = await openGuardedPage(browser, `${proxy.url}/`,
    { contextOptions, timeout: WAIT });
  const id = await myId(page);
  const deltas = (await Promise.all(nodes.map((node) => upgrades(node.port))))
    .map((n, i) => n - before[i]);
  assert.deepEqual(deltas.toSorted(), [0, 0, 1], `one upgrade on one node: ${deltas}`);
  return { page, problems, id, node: nodes[deltas.indexOf(1)] };
}

/** The connection id the page shows once it has its welcome. */
async function myId(page) {
  await page.waitForFunction(() => /^\d+$/.test(document.querySelector('#my-id').dataset.id ?? ''),
    null, { timeout: WAIT });
  return page.$eval('#my-id', (n) => n.dataset.id);
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
  return page.$$eval('#messages .msg .bubble',
    (n, t) => n.filter((x) => x.textContent === t).length, text);
}

/** Keeps in the page when its status changes and when each message text first shows. */
function recordTimes(page) {
  return page.evaluate(() => {
    const times = { states: [], seen: {} };
    window.testTimes = times;
    const status = document.querySelector('#status');
    new MutationObserver(() => times.states.push([status.dataset.state, Date.now()]))
      .observe(status, { attributes: true, attributeFilter: ['data-state'] });
    new MutationObserver(() => {
      for (const n of document.querySelectorAll('#messages .msg .bubble')) {
        times.seen[n.textContent] ??= Date.now();
      }
    }).observe(document.querySelector('#messages'), { childList: true, subtree: true });
  });
}

/**
 * Runs start.sh on free ports with the binary under test and its data in `dir`; resolves once
 * it says the cluster is up. Returns { child, env, pids (name -> pid), output(), ended }.
 * Another program taking one of the ports first is retried with new ports.
 */
async function startScript(dir) {
  for (let attempt = 1; ; ++attempt) {
    const env = { ...process.env, HIBIKI_BIN: hibikiBin(), HIBIKI_CLUSTER_DIR: dir,
      HIBIKI_CLUSTER_HOST: HOST };
    for (const name of ['HIBIKI_CLUSTER_PORT', 'HIBIKI_CLUSTER_STATS_PORT', 'HIBIKI_REDIS_PORT',
      'HIBIKI_NODE1_PORT', 'HIBIKI_NODE2_PORT', 'HIBIKI_NODE3_PORT']) {
      env[name] = String(await freePort());
    }
    const child = spawn(START_SH, [], { env, stdio: ['ignore', 'pipe', 'pipe'] });
    let output = '';
    for (const stream of [child.stdout, child.stderr]) {
      stream.setEncoding('utf8').on('data', (d) => { output += d; });
    }
    const run = { child, env, pids: {}, output: () => output };
    let ended = null;
    run.ended = new Promise((res) => child.once('exit', (code, signal) => {
      ended = { code, signal };
      res(ended);
    }));
    // It names each process as it starts it: what to clean up should it fail half-way.
    const notePids = () => {
      for (const [, name, pid] of output.matchAll(/^cluster: (\S+) started, pid (\d+)$/gm)) {
        run.pids[name] = Number(pid);
      }
    };
    try {
      await eventually(() => {
        if (ended) throw new Error(`start.sh exited (${ended.code}):\n${output}`);
        return /Ctrl-C stops everything/.test(output);
      }, 30_000, 'start.sh to say the cluster is up');
      notePids();
      return run;
    } catch (err) {
      notePids();
      await stopScript(run);
      const taken = /is taken by another program|Address already in use|cannot bind/;
      if (attempt < 3 && taken.test(output)) continue;
      throw err;
    }
  }
}

/** Stops start.sh if it still runs, then, by PID, anything it started that is still there. */
async function stopScript(run) {
  if (run.child.exitCode === null && run.child.signalCode === null) {
    run.child.kill('SIGTERM');
    await withTimeout(run.ended, 30_000, 'start.sh to stop').catch(() => run.child.kill('SIGKILL'));
  }
  for (const pid of Object.values(run.pids)) {
    try {
      if (isRunning(pid)) process.kill(pid, 'SIGKILL');
    } catch { /* gone meanwhile */ }
  }
}

/** Whether `pid` is still one of the cluster's programs (a reused pid is someone else's). */
function isRunning(pid) {
  try {
    return /hibiki|haproxy|redis-server/.test(readFileSync(`/proc/${pid}/cmdline`, 'utf8')) &&
      !/^State:\s+Z/m.test(readFileSync(`/proc/${pid}/status`, 'utf8'));
  } catch {
    return false;
  }
}

/** Resolves with { code, output } once `child` exits (within 30 s). */
function runToEnd(child) {
  let output = '';
  for (const stream of [child.stdout, child.stderr]) {
    stream.setEncoding('utf8').on('data', (d) => { output += d; });
  }
  return withTimeout(new Promise((res) => child.once('exit', (code) => res({ code, output }))),
    30_000, 'start.sh to exit');
}
