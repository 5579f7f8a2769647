// Several `hibiki chat --redis` nodes behave as one server, over real sockets with a real
// redis-server: every message reaches every member on every node exactly once and in one
// order, ids without gaps; presence and names span the nodes; a client resumes on another
// node; bad input gets the single node's answers; a bad --redis is a CLI error; a node that
// starts without Redis says so on /readyz until Redis answers.
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { after, before, describe, test } from 'node:test';
import {
  Peer, eventually, freePort, readiness, startNode, startRedis, waitReady,
} from './lib/cluster.mjs';
import { Client, hibikiBin, httpGet, startServer, stopServer } from './lib/server.mjs';

const NODES = 3;

describe('three chat nodes on one Redis', { timeout: 180_000 }, () => {
  let redis;
  const nodes = [];
  const peers = [];
  const connect = async (node) => {
    const peer = await Peer.connect(node);
    peers.push(peer);
    return peer;
  };

  before(async () => {
    redis = await startRedis();
    for (let i = 0; i < NODES; ++i) {
      // Node 0 runs two loops: work crosses loops as well as nodes.
      nodes.push(await startNode(redis.url, { nodeId: `test-${i}`,
        args: ['--threads', i === 0 ? '2' : '1', '--rate-limit', '0',
          '--max-connections-per-ip', '0'] }));
    }
    await Promise.all(nodes.map((node) => waitReady(node)));
  });
  after(async () => {
    await Promise.all(peers.map((p) => p.close()));
    await Promise.all(nodes.map((node) => node.kill('SIGTERM')));
    await redis?.stop();
  });

  test('300 clients on 3 nodes, all sending: each message once, one order everywhere, ids without gaps', async () => {
    const CLIENTS = 300;
    const EACH = 3;
    const room = 'crowd';
    const crowd = [];
    for (let i = 0; i < CLIENTS; i += 30) {
      crowd.push(...await Promise.all(Array.from({ length: 30 }, (_, j) => connect(nodes[(i + j) % NODES]))));
    }
    await Promise.all(crowd.map((peer, i) => peer.hello(`crowd${i}`)));
    await Promise.all(crowd.map((peer) => peer.join(room)));
    // Everyone sends at once, from every node.
    await Promise.all(crowd.map(async (peer, i) => {
      for (let k = 0; k < EACH; ++k) await peer.send({ action: 'message', room, message: `${i}:${k}` });
    }));
    const total = CLIENTS * EACH;
    await eventually(() => crowd.every((peer) => peer.of('message', room).length >= total),
      90_000, `every client to receive ${total} messages`);
    await new Promise((r) => setTimeout(r, 300)); // nothing more may come
    const reference = crowd[0].of('message', room).map((m) => `${m.id}=${m.text}`);
    assert.equal(reference.length, total);
    for (const [c, peer] of crowd.entries()) {
      const got = peer.of('message', room);
      assert.equal(got.length, total, `client ${c} got ${got.length}, duplicates or extras`);
      // Ids 1, 2, 3 … without gaps, in that order: the same order on every node.
      got.forEach((m, i) => assert.equal(m.id, i + 1, `client ${c} at ${i}`));
      assert.deepEqual(got.map((m) => `${m.id}=${m.text}`), reference, `client ${c}'s order`);
    }
    // Each sender's messages in the order it sent them, each exactly once.
    const next = new Map();
    for (const entry of reference) {
      const [sender, k] = entry.split('=')[1].split(':').map(Number);
      assert.equal(next.get(sender) ?? 0, k, `sender ${sender} out of order`);
      next.set(sender, k + 1);
    }
    assert.equal(next.size, CLIENTS);
    await Promise.all(crowd.map((p) => p.close()));
  });

  test('a burst of connections larger than a block of ids all get in, each with its own id', async () => {
    // Ids come in blocks of 1,024; those past the block at hand wait one round trip for the
    // next, they are not turned away.
    const burst = await Promise.all(Array.from({ length: 1100 }, () => Peer.connect(nodes[1])));
    try {
      const probe = burst.slice(-40);
      await Promise.all(probe.map((peer) => peer.hello()));
      assert.equal(new Set(probe.map((peer) => peer.id)).size, probe.length);
      await probe[0].send({ action: 'message', message: 'after the burst' });
      await Promise.all(burst.slice(0, 40).map((peer) => peer.waitFor(
        (f) => f.type === 'message' && f.body.endsWith(': after the burst'),
        { ms: 10_000, what: 'the talk message after the burst' })));
    } finally {
      await Promise.all(burst.map((peer) => peer.close()));
    }
  });

  test('presence and names span the nodes', async () => {
    const a = await connect(nodes[0]);
    const b = await connect(nodes[1]);
    const c = await connect(nodes[2]);
    assert.equal((await a.hello('kai')).name, 'kai');
    // Names are unique across the cluster, ASCII case folded.
    assert.equal((await b.hello('KAI')).name, 'KAI-2');
    await a.join('pres');
    await b.join('pres');
    await c.hello();
    const { joined } = await c.join('pres');
    assert.deepEqual(joined.members, [
      { id: a.id, name: 'kai' }, { id: b.id, name: 'KAI-2' }, { id: c.id, name: null }]);
    // A join on one node is heard on the others, never by the joiner itself.
    await a.waitFor((f) => f.type === 'presence' && f.room === 'pres' && f.event === 'join' &&
      f.member.id === c.id && f.count === 3, { what: "c's join on node 0" });
    assert.equal(c.of('presence', 'pres').filter((f) => f.member.id === c.id).length, 0);

    await c.send({ action: 'nick', name: 'kai' });
    const [nick] = await c.waitFor((f) => f.type === 'nick', { what: 'nick answer' });
    assert.equal(nick.name, 'kai-3');
    await b.waitFor((f) => f.type === 'presence' && f.event === 'nick' && f.room === 'pres' &&
      f.member.name === 'kai-3' && f.previous === null, { what: 'nick on node 1' });

    // A disconnect on one node is a leave on the others, and frees the name.
    await a.close();
    for (const peer of [b, c]) {
      await peer.waitFor((f) => f.type === 'presence' && f.event === 'leave' && f.room === 'pres' &&
        f.member.id === a.id && f.count === 2, { what: "a's leave" });
    }
    await c.send({ action: 'nick', name: 'Kai' });
    await c.waitFor((f) => f.type === 'nick' && f.name === 'Kai', { what: 'the freed name' });
  });

  test('a client that moves to another node resumes exactly, or hears of the gap', async () => {
    const writer = await connect(nodes[1]);
    await writer.hello('writer');
    await writer.join('resume');
    const reader = await connect(nodes[0]);
    await reader.hello('reader');
    await reader.join('resume');
    for (let i = 1; i <= 5; ++i) await writer.send({ action: 'message', room: 'resume', message: `m${i}` });
    await eventually(() => reader.of('message', 'resume').length === 5, 5000, 'five messages');
    const seen = reader.of('message', 'resume').at(-1).id;
    await reader.close();
    for (let i = 6; i <= 8; ++i) await writer.send({ action: 'message', room: 'resume', message: `m${i}` });
    await eventually(() => writer.of('message', 'resume').length === 8, 5000, 'eight messages');

    const back = await connect(nodes[2]);
    await back.hello('reader');
    const { history, gap } = await back.join('resume', seen);
    assert.equal(gap, undefined);
    assert.deepEqual(history.messages.map((m) => m.text), ['m6', 'm7', 'm8']);
    assert.equal(history.latest, seen + 3);
    // Beyond the latest id: a gap, then the latest messages.
    const other = await connect(nodes[1]);
    await other.hello();
    const beyond = await other.join('resume', seen + 100);
    assert.equal(beyond.gap?.error, 'history_gap');
    assert.equal(beyond.history.messages.length, 8);
    // Older messages page from Redis on any node.
    await other.send({ action: 'history', room: 'resume', before: 4 });
    const [older] = await other.waitFor((f) => f.type === 'history' && f.before === 4, { what: 'older page' });
    assert.deepEqual(older.messages.map((m) => m.text), ['m1', 'm2', 'm3']);
  });

  test("the talk's own clients work unchanged on any node", async () => {
    const talkers = await Promise.all(nodes.map((node) => Client.connect(node.wsUrl)));
    try {
      await talkers[2].send('{"action":"message","message":"hello from the talk"}');
      const expected = new RegExp(`^\\{"type":"message","body":"Client \\d+: hello from the talk"\\}$`);
      const texts = await Promise.all(talkers.map((t) => t.nextText()));
      for (const text of texts) assert.match(text, expected);
      assert.equal(new Set(texts).size, 1);
    } finally {
      await Promise.all(talkers.map((t) => t.dispose()));
    }
  });

  test('/metrics counts the link and the cluster chat', async () => {
    const metric = (text, name) => Number(new RegExp(`^${name} (\\d+)$`, 'm').exec(text)?.[1]);
    for (const node of nodes) {
      const { status, body } = await httpGet(node.port, '/metrics');
      assert.equal(status, 200);
      assert.equal(metric(body, 'hibiki_cluster_link_up'), 1);
      assert.equal(metric(body, 'hibiki_chat_cluster_ready'), 1);
      assert.ok(metric(body, 'hibiki_cluster_commands_total') > 0);
      assert.ok(metric(body, 'hibiki_cluster_received_total') > 0, 'room events heard');
      assert.ok(metric(body, 'hibiki_cluster_subscriptions') >= 1, 'the lobby at least');
      assert.equal(metric(body, 'hibiki_cluster_link_failures_total'), 0);
      for (const name of ['hibiki_cluster_reconnects_total', 'hibiki_cluster_commands_in_flight',
        'hibiki_chat_history_gaps_total', 'hibiki_chat_nodes_reaped_total',
        'hibiki_chat_unavailable_total', 'hibiki_connections_open']) {
        assert.ok(Number.isInteger(metric(body, name)), name);
      }
    }
  });

  test('bad input gets the answers of a single node', async () => {
    const single = await startServer('chat', { extraArgs: ['--rate-limit', '0'] });
    try {
      const bad = [
        'not json', '[1,2]', '{"action":"dance"}', '{"message":"no action"}',
        '{"action":"message"}', '{"action":"message","message":5}', '{"action":"message","message":"  "}',
        `{"action":"message","message":"${'x'.repeat(4001)}"}`, '{"action":"join","room":"dev"}',
        '{"action":"hello","name":"123"}', '{"action":"hello","name":"a b"}', '{"action":"hello","since":-1}',
        '{"action":"hello","name":"ok"}', '{"action":"join","room":"Bad Room"}', '{"action":"join"}',
        '{"action":"leave","room":"nowhere"}', '{"action":"history","room":"nowhere"}',
        '{"action":"history","room":"lobby","before":0}', '{"action":"message","room":"nowhere","message":"x"}',
        '{"action":"nick"}', '{"action":"nick","name":""}',
      ];
      const answers = async (server) => {
        const client = await Client.connect(server.wsUrl);
        const out = [];
        try {
          for (const frame of bad) {
            await client.send(frame);
            let answer = await client.nextJson();
            // The valid hello answers with welcome, joined and history: keep their types only.
            if (answer.type === 'welcome') {
              const joined = await client.nextOfType('joined');
              const history = await client.nextOfType('history');
              answer = [answer.type, answer.name, joined.type, history.type];
            }
            out.push(JSON.stringify(answer));
          }
          await client.send(Buffer.from([1, 2, 3]));
          out.push(await client.nextText());
        } finally {
          await client.dispose();
        }
        return out;
      };
      assert.deepEqual(await answers(nodes[0]), await answers(single));
    } finally {
      await stopServer(single);
    }
  });
});

describe('cluster start-up', { timeout: 60_000 }, () => {
  test('a --redis URL that does not parse is a CLI error naming the flag', () => {
    for (const url of ['localhost:6379', 'redis://', 'redis://h:99999', 'rediss://h']) {
      const run = spawnSync(hibikiBin(), ['chat', '--redis', url], { encoding: 'utf8', timeout: 10_000 });
      assert.notEqual(run.status, 0, url);
      assert.match(run.stderr, /--redis/, url);
    }
    const run = spawnSync(hibikiBin(), ['chat', '--node-id', 'x'], { encoding: 'utf8', timeout: 10_000 });
    assert.notEqual(run.status, 0);
    assert.match(run.stderr, /need --redis/);
  });

  test('a node started before Redis answers 503 with the reason, then 200 once Redis is up', async () => {
    const port = await freePort();
    const node = await startNode(`redis://127.0.0.1:${port}`, { nodeId: 'early' });
    let redis;
    try {
      const early = await readiness(node);
      assert.equal(early.status, 503);
      assert.equal(early.body.status, 'unavailable');
      await eventually(async () => /Connection refused/.test((await readiness(node)).body.reason),
        5000, 'the reason on /readyz');
      // Upgrades are refused with 503 too, so a load balancer tries another node.
      await assert.rejects(Peer.connect(node), /unexpected handshake response 503/);
      redis = await startRedis({ port });
      await waitReady(node, 10_000);
      const peer = await Peer.connect(node);
      await peer.hello('early-bird');
      await peer.send({ action: 'message', message: 'finally' });
      await peer.waitFor((f) => f.type === 'message' && f.text === 'finally' && f.id === 1,
        { what: 'the message back' });
      await peer.close();
    } finally {
      await node.kill('SIGTERM');
      await redis?.stop();
    }
  });
});
