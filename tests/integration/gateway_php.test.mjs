// The talk's serverless chat on this machine: `hibiki gateway` with examples/php-chat/gateway.toml
// (integrations pointed at a free port) in front of examples/php-chat/index.php under `php -S`,
// which keeps connection ids in SQLite and answers through the @connections API. Needs php with
// curl and pdo_sqlite: without it this file fails and says so.
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { Client, HOST, killServer, stopServer } from './lib/server.mjs';
import { startRedis } from './lib/cluster.mjs';
import {
  eventually, freePort, phpConnectionIds, phpExampleToml, request, requirePhp, startGateway,
  startPhp, stopGateway, tempDir,
} from './lib/gateway.mjs';

const TEXT = 'hi <b>';
const FORBIDDEN_FRAME_RE =
  /^\{"message": "Forbidden", "connectionId":"([A-Za-z0-9_=-]+)", "requestId":"([A-Za-z0-9_=-]+)"\}$/;

/** What every client must receive, byte for byte, when `id` says `text`. */
const talkFrame = (id, text) => JSON.stringify({ type: 'message', body: `Client ${id}: ${text}` });

describe('gateway + examples/php-chat: the talk\'s protocol', { timeout: 60_000 }, () => {
  let dir;
  let chatDb;
  let php;
  let gateway;
  const users = []; // { client, id }

  before(async () => {
    requirePhp();
    dir = tempDir('hibiki-gw-php-');
    chatDb = join(dir.path, 'connections.sqlite3');
    const [phpPort, managementPort] = [await freePort(), await freePort()];
    php = await startPhp({ port: phpPort, chatDb,
      managementEndpoint: `http://${HOST}:${managementPort}/dev` });
    gateway = await startGateway(phpExampleToml(php.url), { managementPort });
    assert.equal(gateway.managementPort, managementPort);
  });

  after(async () => {
    await Promise.all(users.map((u) => u.client.dispose()));
    await stopGateway(gateway);
    await stopServer(php);
    dir?.cleanup();
  });

  test('$connect stores each connection id in the PHP SQLite table', async () => {
    for (let i = 0; i < 3; i++) {
      const known = phpConnectionIds(chatDb);
      const client = await Client.connect(`${gateway.wsUrl}/`);
      // $connect answered before the upgrade completed, so the row is already there.
      const now = phpConnectionIds(chatDb);
      const added = now.filter((id) => !known.includes(id));
      assert.equal(added.length, 1, `table: ${JSON.stringify(now)}`);
      assert.match(added[0], /^[A-Za-z0-9_-]{15}=$/);
      users.push({ client, id: added[0] });
    }
    assert.deepEqual(phpConnectionIds(chatDb), users.map((u) => u.id).sort());
  });

  test('every message reaches every client, the sender included, as {"type":"message","body":"Client <id>: …"}', async () => {
    for (const sender of users) {
      await sender.client.send(JSON.stringify({ action: 'message', message: TEXT }));
      for (const receiver of users) {
        assert.equal(await receiver.client.nextText(), talkFrame(sender.id, TEXT),
          `client ${receiver.id} hearing ${sender.id}`);
      }
    }
    for (const { client } of users) await client.expectSilence(100);
  });

  test('an action with no route (the example has no $default) gets API Gateway\'s Forbidden frame', async () => {
    const [{ client, id }] = users;
    await client.send('{"action":"hello"}');
    const frame = await client.nextText();
    const m = FORBIDDEN_FRAME_RE.exec(frame);
    assert.ok(m, `not the Forbidden frame: ${frame}`);
    assert.equal(m[1], id);
  });

  test('a closed client leaves the table ($disconnect) and the others keep talking', async () => {
    const [a, b, c] = users;
    c.client.ws.close(1000, 'leaving');
    await c.client.waitClosed();
    await eventually(() => !phpConnectionIds(chatDb).includes(c.id), 5000, `${c.id} to leave the table`);
    assert.deepEqual(phpConnectionIds(chatDb), [a.id, b.id].sort());
    await b.client.send(JSON.stringify({ action: 'message', message: 'still here' }));
    assert.equal(await a.client.nextText(), talkFrame(b.id, 'still here'));
    assert.equal(await b.client.nextText(), talkFrame(b.id, 'still here'));
  });

  test('a dropped TCP connection also leaves the table', async () => {
    const [a, b] = users;
    b.client.ws.terminate();
    await eventually(() => !phpConnectionIds(chatDb).includes(b.id), 5000, `${b.id} to leave the table`);
    assert.deepEqual(phpConnectionIds(chatDb), [a.id]);
    await a.client.send(JSON.stringify({ action: 'message', message: 'alone' }));
    assert.equal(await a.client.nextText(), talkFrame(a.id, 'alone'));
  });
});

describe('three gateway nodes + one Redis + examples/php-chat: one chat', { timeout: 90_000 }, () => {
  let dir;
  let chatDb;
  let php;
  let redis;
  const nodes = [];
  const users = []; // { client, id, node }

  before(async () => {
    requirePhp();
    dir = tempDir('hibiki-gw-php-cluster-');
    chatDb = join(dir.path, 'connections.sqlite3');
    redis = await startRedis({ persistent: false });
    const [phpPort, managementPort] = [await freePort(), await freePort()];
    // The backend knows one management URL: the first node's. It reaches every client anyway.
    php = await startPhp({ port: phpPort, chatDb,
      managementEndpoint: `http://${HOST}:${managementPort}/dev` });
    for (let n = 0; n < 3; n++) {
      nodes.push(await startGateway(phpExampleToml(php.url), {
        managementPort: n === 0 ? managementPort : 0,
        extraArgs: ['--redis', redis.url, '--node-id', `php-${n}`],
      }));
    }
    for (const node of nodes) {
      await eventually(async () => (await request(
        `http://${HOST}:${node.managementPort}/readyz`)).status === 200, 10_000, 'node ready');
    }
  });

  after(async () => {
    await Promise.all(users.map((u) => u.client.dispose()));
    await Promise.all(nodes.map(stopGateway));
    await stopServer(php);
    await redis?.stop();
    dir?.cleanup();
  });

  test('clients on every node: each message, sent on any node, reaches every client once', async () => {
    for (let i = 0; i < 6; i++) {
      const known = phpConnectionIds(chatDb);
      const node = i % 3;
      const client = await Client.connect(`${nodes[node].wsUrl}/`);
      const added = phpConnectionIds(chatDb).filter((id) => !known.includes(id));
      assert.equal(added.length, 1);
      users.push({ client, id: added[0], node });
    }
    for (const sender of users) {
      await sender.client.send(JSON.stringify({ action: 'message', message: `from ${sender.node}` }));
      for (const receiver of users) {
        assert.equal(await receiver.client.nextText(), talkFrame(sender.id, `from ${sender.node}`),
          `client on node ${receiver.node} hearing node ${sender.node}`);
      }
    }
    for (const { client } of users) await client.expectSilence(150);
  });

  test('a node SIGKILLed: the backend\'s broadcast still reaches the clients on the others', async () => {
    const dead = users.filter((u) => u.node === 2);
    await killServer(nodes[2]);
    nodes.pop();
    const alive = users.filter((u) => u.node !== 2);
    const [sender] = alive;
    await sender.client.send(JSON.stringify({ action: 'message', message: 'after the crash' }));
    for (const receiver of alive) {
      assert.equal(await receiver.client.nextText(), talkFrame(sender.id, 'after the crash'));
    }
    for (const u of dead) users.splice(users.indexOf(u), 1);
  });
});
