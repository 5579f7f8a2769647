// What clients of a chat cluster see when things fail, with a real redis-server and real
// nodes (docs/CLUSTER.md, "Failures"): Redis killed and restarted with the project's
// persistence settings; Redis back without its data; a node killed. Each asserts exactly-once
// delivery, ids that are never reused, and the times the docs quote.
import assert from 'node:assert/strict';
import { after, afterEach, describe, test } from 'node:test';
import {
  Peer, eventually, readiness, sleep, startNode, startRedis, waitReady,
} from './lib/cluster.mjs';

// Everything a test started, stopped afterwards even when it fails.
const started = { redis: [], nodes: [], peers: [] };
async function cluster(count, { persistent = true, args = [] } = {}) {
  const redis = await startRedis({ persistent });
  started.redis.push(redis);
  const nodes = [];
  for (let i = 0; i < count; ++i) {
    nodes.push(await startNode(redis.url, { nodeId: `f-${i}`,
      args: ['--threads', i === 0 ? '2' : '1', '--rate-limit', '0', ...args] }));
  }
  started.nodes.push(...nodes);
  await Promise.all(nodes.map((node) => waitReady(node)));
  return { redis, nodes };
}
async function member(node, name, room) {
  const peer = await Peer.connect(node);
  started.peers.push(peer);
  await peer.hello(name);
  if (room) await peer.join(room);
  return peer;
}
const texts = (peer, room) => peer.messages(room).map((m) => `${m.id}:${m.text}`);

afterEach(async () => {
  await Promise.all(started.peers.splice(0).map((p) => p.close()));
  await Promise.all(started.nodes.splice(0).map((n) => n.kill('SIGKILL')));
  await Promise.all(started.redis.splice(0).map((r) => r.stop()));
});
after(() => {});

describe('chat cluster failures', { timeout: 120_000 }, () => {
  test('Redis killed and restarted mid-stream: no acknowledged message lost, none twice', async () => {
    // A resume catches up to --history messages: enough for all the outage lets through.
    const { redis, nodes } = await cluster(2, { args: ['--history', '1000'] });
    const room = 'durable';
    const sender = await member(nodes[0], 'sender', room);
    const near = await member(nodes[0], 'near', room);
    const far = await member(nodes[1], 'far', room);
    const leaver = await member(nodes[1], 'leaver', room);

    // The sender writes every 10 ms throughout; Redis dies and comes back in the middle.
    let sending = true;
    let sent = 0;
    const writer = (async () => {
      while (sending) {
        await sender.send({ action: 'message', room, message: `c${sent++}` });
        await sleep(10);
      }
    })();
    await sleep(500);
    await redis.kill();
    // While Redis is away a sender is told at once, and nobody is shown anything.
    await sender.waitFor((f) => f.type === 'error' && f.error === 'unavailable' && f.room === room,
      { what: 'an unavailable error' });
    // A client that drops out now resumes with `since` once the cluster is back.
    const seenByLeaver = leaver.messages(room).at(-1)?.id ?? 0;
    await leaver.close();
    await sleep(700);
    const restartedAt = Date.now();
    await redis.restart();
    await Promise.all(nodes.map((node) => waitReady(node, 15_000)));
    const readyAfter = Date.now() - restartedAt;
    await sleep(500);
    sending = false;
    await writer;

    const stored = sent; // upper bound; the acknowledged ones came back to the sender
    await eventually(() => {
      const got = texts(sender, room).length;
      return got > 0 && texts(near, room).length === got && texts(far, room).length === got;
    }, 10_000, 'every member to hold the same messages');
    await sleep(300);
    const reference = texts(sender, room);
    assert.ok(reference.length > 50 && reference.length <= stored, `${reference.length} of ${stored}`);
    for (const peer of [near, far]) assert.deepEqual(texts(peer, room), reference);
    // Ids 1, 2, 3 … without gaps: the append-only file kept every acknowledged message.
    reference.forEach((entry, i) => assert.equal(Number(entry.split(':')[0]), i + 1, entry));
    assert.equal(new Set(reference.map((e) => e.split(':')[1])).size, reference.length, 'a text twice');
    const refused = sender.frames.filter((f) => f.error === 'unavailable').length;
    assert.ok(refused > 0, 'the outage was seen');
    assert.ok(reference.length + refused >= sent - 2, `sent ${sent}, ${reference.length} stored, ${refused} refused`);

    // The client that left during the outage could not say goodbye then: once Redis is back
    // its node takes it out (a leave, its name freed), and it comes back on the other node,
    // exactly.
    await far.waitFor((f) => f.type === 'presence' && f.event === 'leave' && f.room === room &&
      f.member.id === leaver.id, { what: 'the leave of a member that closed during the outage' });
    const back = await member(nodes[0], 'leaver');
    assert.equal(back.name, 'leaver');
    const { history, gap } = await back.join(room, seenByLeaver);
    assert.equal(gap, undefined);
    assert.deepEqual(history.messages.map((m) => `${m.id}:${m.text}`),
      reference.filter((e) => Number(e.split(':')[0]) > seenByLeaver));
    console.log(`# Redis restart: nodes ready ${readyAfter} ms after it was started again;` +
      ` ${reference.length} messages stored, ${refused} refused while it was down`);
  });

  test('Redis back without its data: no id reused, clients told with history_gap', async () => {
    const { redis, nodes } = await cluster(2, { persistent: false });
    const room = 'fragile';
    const a = await member(nodes[0], 'a', room);
    const b = await member(nodes[1], 'b', room);
    for (let i = 1; i <= 5; ++i) await a.send({ action: 'message', room, message: `before ${i}` });
    await eventually(() => b.messages(room).length === 5, 5000, 'five messages');
    const mark = b.frames.length;

    await redis.kill();
    await redis.restart(); // empty: no persistence
    await Promise.all(nodes.map((node) => waitReady(node, 15_000)));
    for (const peer of [a, b]) {
      const [gap, at] = await peer.waitFor((f) => f.error === 'history_gap' && f.room === room,
        { from: mark, ms: 10_000, what: 'history_gap after the loss' });
      assert.equal(gap.since, 5);
      const [history] = await peer.waitFor((f) => f.type === 'history' && f.room === room,
        { from: at, what: 'the history after the gap' });
      assert.deepEqual(history.messages, []); // what Redis lost is gone
      assert.equal(history.latest, 5);        // but ids go on from there
    }
    await a.send({ action: 'message', room, message: 'after' });
    for (const peer of [a, b]) {
      const [message] = await peer.waitFor((f) => f.type === 'message' && f.text === 'after',
        { what: 'the first message after the loss' });
      assert.equal(message.id, 6, 'a reused id would be dropped as a duplicate by the page');
    }
    // Connection ids go on as well: a newcomer does not get one of the lost counter's.
    const newcomer = await member(nodes[1], 'newcomer');
    assert.ok(Number(newcomer.id) > Math.max(Number(a.id), Number(b.id)), newcomer.id);
  });

  test('a node killed: its members leave every room within 15 s and resume on another node', async () => {
    const { nodes } = await cluster(3);
    const room = 'survive';
    const doomed = await member(nodes[0], 'doomed', room);
    const witness = await member(nodes[1], 'witness', room);
    const third = await member(nodes[2], 'third', room);
    await witness.send({ action: 'message', room, message: 'one' });
    await eventually(() => doomed.messages(room).length === 1, 5000, 'one message');
    const seen = doomed.messages(room)[0].id;

    const killedAt = Date.now();
    await nodes[0].kill('SIGKILL');
    await third.send({ action: 'message', room, message: 'two' });
    for (const peer of [witness, third]) {
      await peer.waitFor((f) => f.type === 'presence' && f.event === 'leave' && f.room === room &&
        f.member.id === doomed.id, { ms: 15_000, what: "the dead node's member leaving" });
    }
    const leftAfter = Date.now() - killedAt;
    assert.ok(leftAfter <= 15_000, `left after ${leftAfter} ms`);
    // Both lobbies heard it too: the dead node's member left every room it was in.
    await witness.waitFor((f) => f.type === 'presence' && f.event === 'leave' && f.room === 'lobby' &&
      f.member.id === doomed.id, { what: 'the lobby leave' });

    // Its user reconnects through the load balancer to another node and resumes exactly; its
    // name is free again.
    const back = await member(nodes[2], 'doomed');
    assert.equal(back.name, 'doomed');
    const { history, gap } = await back.join(room, seen);
    assert.equal(gap, undefined);
    assert.deepEqual(history.messages.map((m) => m.text), ['two']);
    console.log(`# node killed: its member left after ${leftAfter} ms`);
  });

  test('a node stopped gracefully: its members leave at once, not after the dead-node timeout', async () => {
    const { nodes } = await cluster(2);
    const room = 'polite';
    const leaving = await member(nodes[0], 'leaving', room);
    const staying = await member(nodes[1], 'staying', room);
    const stoppedAt = Date.now();
    const exit = await nodes[0].kill('SIGTERM');
    assert.equal(exit.code, 0);
    await staying.waitFor((f) => f.type === 'presence' && f.event === 'leave' && f.room === room &&
      f.member.id === leaving.id, { ms: 3000, what: 'the leave of a member whose node stopped' });
    assert.ok(Date.now() - stoppedAt < 3000);
    // Its name is free at once too.
    const again = await member(nodes[1], 'leaving');
    assert.equal(again.name, 'leaving');
  });

  test('two nodes with the same --node-id: the newer takes over, the older says why', async () => {
    const { redis, nodes } = await cluster(1);
    const twin = await startNode(redis.url, { nodeId: 'f-0' });
    started.nodes.push(twin);
    await waitReady(twin);
    await eventually(async () => (await readiness(nodes[0])).status === 503, 5000,
      'the older twin to report itself not ready');
    assert.match((await readiness(nodes[0])).body.reason, /node id f-0 used by another process/);
    assert.match(nodes[0].stderr, /node id f-0 is used by another running process/);
  });
});
