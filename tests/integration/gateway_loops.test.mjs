// `hibiki gateway --threads 2`: clients spread over two event loops (the kernel's SO_REUSEPORT
// choice), each loop calling the integrations for its own clients, and management calls that
// arrive on one loop reaching connections owned by the other.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, HOST } from './lib/server.mjs';
import {
  connectionRequest, eventually, gatewayToml, request, startBackend, startGateway, stopGateway,
} from './lib/gateway.mjs';

const CLIENTS = 40;

function routes(backendUrl, keys) {
  const out = {};
  for (const key of keys) out[key] = { integration: backendUrl };
  return out;
}

/** The metric's value per label set: { '{loop="0"}': 12, ... }. */
function series(metricsText, name) {
  const out = {};
  for (const line of metricsText.split('\n')) {
    if (!line.startsWith(name)) continue;
    const [key, value] = line.slice(name.length).split(' ');
    out[key] = Number(value);
  }
  return out;
}

describe('gateway: two event loops', () => {
  let backend;
  let gateway;
  const clients = [];

  before(async () => {
    backend = await startBackend();
    gateway = await startGateway(gatewayToml({
      gateway: { route_selection_expression: '$request.body.action' },
      routes: routes(backend.url, ['$connect', '$disconnect', '$default']),
    }), { threads: 2 });
    for (let i = 0; i < CLIENTS; i++) {
      const client = await Client.connect(`${gateway.wsUrl}/?tag=loop${i}`);
      const connect = await backend.connectEvent(`loop${i}`);
      clients.push({ client, id: connect.requestContext.connectionId });
    }
  });
  after(async () => {
    await Promise.all(clients.map((c) => c.client.dispose()));
    await stopGateway(gateway);
    await backend?.close();
  });

  test('the clients are spread over both loops and /metrics says how', async () => {
    const metrics = await request(`http://${HOST}:${gateway.managementPort}/metrics`);
    assert.equal(metrics.status, 200);
    const perLoop = series(metrics.body, 'hibiki_gateway_loop_connections');
    assert.deepEqual(Object.keys(perLoop).sort(), ['{loop="0"}', '{loop="1"}']);
    assert.equal(perLoop['{loop="0"}'] + perLoop['{loop="1"}'], CLIENTS);
    // 40 connections from distinct ports land on one loop with probability 2^-39.
    assert.ok(perLoop['{loop="0"}'] > 0 && perLoop['{loop="1"}'] > 0, metrics.body);
  });

  test('PostToConnection, from many HTTP connections at once, reaches every client once', async () => {
    const posts = clients.map(({ id }, i) =>
      connectionRequest(gateway, 'POST', id, { body: `to ${i}` }));
    for (const answer of await Promise.all(posts)) assert.equal(answer.status, 200, answer.body);
    for (const [i, { client }] of clients.entries()) assert.equal(await client.nextText(), `to ${i}`);
    const got = await Promise.all(clients.map(({ id }) => connectionRequest(gateway, 'GET', id)));
    for (const answer of got) {
      assert.equal(answer.status, 200);
      assert.equal(answer.json().identity.sourceIp, '127.0.0.1');
    }
  });

  test('messages from clients on both loops reach the backend with their connection ids', async () => {
    const from = backend.events.length;
    await Promise.all(clients.map(({ client }, i) => client.send(JSON.stringify({ n: i }))));
    await eventually(() => backend.events.slice(from)
      .filter((r) => r.event.requestContext?.eventType === 'MESSAGE').length === CLIENTS, 10_000);
    const seen = new Map(backend.events.slice(from).map((r) =>
      [JSON.parse(r.event.body).n, r.event.requestContext.connectionId]));
    for (const [i, { id }] of clients.entries()) assert.equal(seen.get(i), id);
  });

  test('@topics: subscribers on both loops, one publish, "delivered" counts them all', async () => {
    const topic = `${gateway.managementUrl}/@topics/everyone`;
    const subscribed = await Promise.all(clients.map(({ id }) =>
      request(`${topic}/@connections/${encodeURIComponent(id)}`, { method: 'PUT' })));
    for (const answer of subscribed) assert.equal(answer.status, 204);
    const published = await request(topic, { method: 'POST', body: 'hello all' });
    assert.equal(published.body, `{"delivered":${CLIENTS}}`);
    for (const { client } of clients) assert.equal(await client.nextText(), 'hello all');
  });

  test('DeleteConnection closes clients on either loop; then they are gone (410)', async () => {
    const victims = clients.splice(0, 10);
    const closed = victims.map(({ client }) => client.waitClosed());
    const deleted = await Promise.all(victims.map(({ id }) =>
      connectionRequest(gateway, 'DELETE', id)));
    for (const answer of deleted) assert.equal(answer.status, 204);
    for (const { code } of await Promise.all(closed)) assert.equal(code, 1000);
    const again = await Promise.all(victims.map(({ id }) =>
      connectionRequest(gateway, 'POST', id, { body: 'late' })));
    for (const answer of again) assert.equal(answer.status, 410);
    const topic = `${gateway.managementUrl}/@topics/everyone`;
    const published = await request(topic, { method: 'POST', body: 'fewer' });
    assert.equal(published.body, `{"delivered":${CLIENTS - 10}}`);
    for (const { client } of clients) assert.equal(await client.nextText(), 'fewer');
  });

  test('SIGTERM: every loop sends its clients\' $disconnect before the process exits', async () => {
    const closed = clients.map(({ client }) => client.waitClosed());
    const { code } = await stopGateway(gateway);
    assert.equal(code, 0);
    await Promise.all(closed);
    const ids = new Set(backend.events.filter((r) => r.event.requestContext?.eventType === 'DISCONNECT')
      .map((r) => r.event.requestContext.connectionId));
    for (const { id } of clients) assert.ok(ids.has(id), `no $disconnect for ${id}`);
    assert.equal(ids.size, CLIENTS);
    gateway = null;
  });
});
