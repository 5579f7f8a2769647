// A chat node cut off from Redis without any FIN or RST: the node lives in a network namespace
// of the test's own, joined to Redis by a veth pair whose link the test takes down
// (lib/netns.mjs). The node must notice within 10 s (its link is probed), log it, say so on
// /readyz, refuse to show what it cannot store, be taken for dead by the other nodes, and heal
// when the link is back: re-registered, its members back in their rooms, and exactly the
// messages it missed delivered. Needs root (CI runs as root on this kind of machine).
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Peer, eventually, readiness, sleep, startNode, startRedis, waitReady } from './lib/cluster.mjs';
import { cleanupStale, createTopology, netnsAvailable } from './lib/netns.mjs';

describe('a node partitioned from Redis', { timeout: 120_000 }, () => {
  let topo;
  let redis;
  const nodes = [];
  const peers = [];

  before(async () => {
    assert.ok(netnsAvailable(), 'this test needs root and `ip netns` (iproute2)');
    cleanupStale();
    topo = await createTopology();
    redis = await startRedis({ spawnFn: topo.spawnInRedisNs, bind: '0.0.0.0',
      urlHost: topo.redisAddressFromRoot });
    const port = redis.port;
    // One node in the root namespace, one in N: the one whose link to Redis is cut.
    nodes.push(await startNode(`redis://${topo.redisAddressFromRoot}:${port}`, { nodeId: 'outside' }));
    nodes.push(await startNode(`redis://${topo.redisAddressFromNode}:${port}`, { nodeId: 'inside',
      host: '0.0.0.0', urlHost: topo.nodeAddressFromRoot, spawnFn: topo.spawnInNodeNs }));
    await Promise.all(nodes.map((node) => waitReady(node)));
  });
  after(async () => {
    await Promise.all(peers.map((p) => p.close()));
    await Promise.all(nodes.map((node) => node.kill('SIGKILL').catch(() => {})));
    await redis?.stop();
    await topo?.destroy();
  });

  test('noticed within 10 s, reported, taken for dead by the others, healed exactly', async () => {
    const [outside, inside] = nodes;
    const room = 'cut';
    const a = await Peer.connect(outside);
    const b = await Peer.connect(inside);
    peers.push(a, b);
    await a.hello('outsider');
    await b.hello('insider');
    await a.join(room);
    await b.join(room);
    await a.send({ action: 'message', room, message: 'before' });
    await eventually(() => b.messages(room).length === 1, 5000, 'the first message inside');

    const cutAt = Date.now();
    await topo.cutNodeFromRedis();
    await eventually(async () => (await readiness(inside)).status === 503, 10_000,
      'the partitioned node to report itself not ready');
    const noticedAfter = Date.now() - cutAt;
    assert.ok(noticedAfter <= 10_000, `noticed after ${noticedAfter} ms`);
    const { body } = await readiness(inside);
    assert.match(body.reason, /Redis unreachable: .*probe|no answer/, body.reason);
    assert.match(inside.stderr, /Redis link lost .*no answer to the probe/);
    // Nothing is shown that is not stored: the inside sender is told at once.
    const mark = b.frames.length;
    await b.send({ action: 'message', room, message: 'lost in the cut' });
    await b.waitFor((f) => f.error === 'unavailable' && f.room === room, { from: mark,
      ms: 2000, what: 'unavailable inside' });
    // Outside, the cluster goes on; the node that stopped refreshing its heartbeat is taken
    // for dead and its member leaves.
    for (let i = 1; i <= 3; ++i) await a.send({ action: 'message', room, message: `during ${i}` });
    await a.waitFor((f) => f.type === 'presence' && f.event === 'leave' && f.room === room &&
      f.member.id === b.id, { ms: 15_000, what: 'the partitioned member leaving' });
    const reapedAfter = Date.now() - cutAt;

    const healAt = Date.now();
    await topo.healNodeToRedis();
    await waitReady(inside, 15_000);
    const healedAfter = Date.now() - healAt;
    // Back in its room for the others, under its name, and it gets exactly what it missed.
    await a.waitFor((f) => f.type === 'presence' && f.event === 'join' && f.room === room &&
      f.member.id === b.id && f.member.name === 'insider', { ms: 10_000, what: 'the member back' });
    await eventually(() => b.messages(room).length === 4, 10_000, 'the missed messages inside');
    assert.deepEqual(b.messages(room).map((m) => `${m.id}:${m.text}`),
      ['1:before', '2:during 1', '3:during 2', '4:during 3']);
    await b.send({ action: 'message', room, message: 'healed' });
    await a.waitFor((f) => f.type === 'message' && f.text === 'healed' && f.id === 5,
      { what: 'a message from inside after the heal' });
    await sleep(200);
    assert.equal(b.messages(room).length, 5, 'nothing twice');
    console.log(`# partition: noticed after ${noticedAfter} ms, member left after ${reapedAfter} ms,` +
      ` ready again ${healedAfter} ms after the link came back`);
  });
});
