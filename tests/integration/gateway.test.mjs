// `hibiki gateway` against a test backend: a node:http server that records every event the
// gateway POSTs and answers as each test says. Checks the Lambda-proxy events field by field,
// $connect deciding the upgrade, route selection, two-way routes, the @connections and @topics
// management API with its AWS errors, integration timeouts, and the aws profile's limits.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import {
  Client, HOST, OP, RawClient, sleep,
} from './lib/server.mjs';
import {
  connectionRequest, gatewayToml, request, startBackend, startGateway, stopGateway, tryUpgrade,
} from './lib/gateway.mjs';

// AWS-like ids: 11 random bytes in base64url, 15 characters and one '='.
const ID_RE = /^[A-Za-z0-9_-]{15}=$/;
const MONTHS = ['Jan', 'Feb', 'Mar', 'Apr', 'May', 'Jun', 'Jul', 'Aug', 'Sep', 'Oct', 'Nov', 'Dec'];
const CONTEXT_KEYS = {
  CONNECT: ['routeKey', 'eventType', 'extendedRequestId', 'requestTime', 'messageDirection', 'stage',
    'connectedAt', 'requestTimeEpoch', 'identity', 'requestId', 'domainName', 'connectionId', 'apiId'],
  MESSAGE: ['routeKey', 'messageId', 'eventType', 'extendedRequestId', 'requestTime',
    'messageDirection', 'stage', 'connectedAt', 'requestTimeEpoch', 'identity', 'requestId',
    'domainName', 'connectionId', 'apiId'],
  DISCONNECT: ['routeKey', 'disconnectStatusCode', 'eventType', 'extendedRequestId', 'requestTime',
    'messageDirection', 'disconnectReason', 'stage', 'connectedAt', 'requestTimeEpoch', 'identity',
    'requestId', 'domainName', 'connectionId', 'apiId'],
};
const FORBIDDEN_FRAME_RE =
  /^\{"message": "Forbidden", "connectionId":"([A-Za-z0-9_=-]+)", "requestId":"([A-Za-z0-9_=-]+)"\}$/;
const INTERNAL_ERROR_FRAME_RE =
  /^\{"message": "Internal server error", "connectionId":"([A-Za-z0-9_=-]+)", "requestId":"([A-Za-z0-9_=-]+)"\}$/;

/** API Gateway's requestTime for an epoch in ms: "25/Nov/2026:15:57:38 +0000". */
function requestTime(ms) {
  const d = new Date(ms);
  const two = (n) => String(n).padStart(2, '0');
  return `${two(d.getUTCDate())}/${MONTHS[d.getUTCMonth()]}/${d.getUTCFullYear()}:` +
    `${two(d.getUTCHours())}:${two(d.getUTCMinutes())}:${two(d.getUTCSeconds())} +0000`;
}

/** Checks the requestContext fields every event shares; returns the context. */
function checkContext(event, { eventType, routeKey, stage, apiId, domainName, userAgent }) {
  const c = event.requestContext;
  assert.deepEqual(Object.keys(c), CONTEXT_KEYS[eventType]);
  assert.equal(c.routeKey, routeKey);
  assert.equal(c.eventType, eventType);
  assert.equal(c.messageDirection, 'IN');
  assert.equal(c.stage, stage);
  assert.equal(c.apiId, apiId);
  assert.equal(c.domainName, domainName);
  assert.deepEqual(c.identity, { sourceIp: '127.0.0.1', userAgent });
  assert.match(c.connectionId, ID_RE);
  assert.match(c.requestId, ID_RE);
  assert.match(c.extendedRequestId, ID_RE);
  // API Gateway documents $context.requestId as the same value as extendedRequestId.
  assert.equal(c.requestId, c.extendedRequestId);
  assert.ok(Number.isInteger(c.connectedAt) && Number.isInteger(c.requestTimeEpoch));
  assert.ok(c.requestTimeEpoch >= c.connectedAt);
  assert.equal(c.requestTime, requestTime(c.requestTimeEpoch));
  return c;
}

function routes(backendUrl, keys, extra = {}) {
  const out = {};
  for (const key of keys) out[key] = { integration: backendUrl, ...extra[key] };
  return out;
}

/** Opens a `ws` client with ?tag=<tag> and returns { client, id, connect } from its CONNECT. */
async function connectTagged(gateway, backend, tag, options = {}) {
  const client = await Client.connect(`${gateway.wsUrl}/?tag=${tag}`, options);
  const connect = await backend.connectEvent(tag);
  return { client, id: connect.requestContext.connectionId, connect };
}

/** Sends a fragmented text message: `total` bytes of 'y' in frames of `frame` bytes. */
async function sendFragmented(client, total, frame) {
  const sends = [];
  for (let sent = 0; sent < total; sent += frame) {
    const size = Math.min(frame, total - sent);
    const fin = sent + size >= total;
    sends.push(client.send(Buffer.alloc(size, 'y'), { binary: false, fin }).catch(() => {}));
  }
  await Promise.all(sends);
}

// ---------------------------------------------------------------------------------------------

describe('gateway: the events the backend sees', () => {
  let backend;
  let gateway;
  const STAGE = 'test1';
  const API_ID = 'abc123';

  before(async () => {
    backend = await startBackend();
    gateway = await startGateway(gatewayToml({
      gateway: { stage: STAGE, api_id: API_ID },
      routes: routes(backend.url, ['$connect', '$disconnect', '$default', 'echo']),
    }), { stage: STAGE });
  });
  after(async () => {
    await stopGateway(gateway);
    await backend?.close();
  });

  test('CONNECT, MESSAGE and DISCONNECT with the client\'s close code', async () => {
    const domainName = `${HOST}:${gateway.port}`;
    const userAgent = 'gw-test/1.0';
    const startedAt = Date.now();
    const client = await Client.connect(`${gateway.wsUrl}/?a=1&a=2&b=x`, {
      headers: { 'User-Agent': userAgent, 'X-Custom': 'custom value', 'X-Multi': ['one', 'two'] },
    });
    const openedAt = Date.now();
    const common = { stage: STAGE, apiId: API_ID, domainName, userAgent };

    const [connectRecord] = backend.events;
    assert.equal(backend.events.length, 1);
    assert.equal(connectRecord.method, 'POST');
    assert.equal(connectRecord.path, '/');
    assert.equal(connectRecord.headers['content-type'], 'application/json');
    const connect = connectRecord.event;
    assert.deepEqual(Object.keys(connect), ['headers', 'multiValueHeaders', 'queryStringParameters',
      'multiValueQueryStringParameters', 'requestContext', 'isBase64Encoded']);
    const c = checkContext(connect, { eventType: 'CONNECT', routeKey: '$connect', ...common });
    const { connectionId } = c;
    assert.ok(c.connectedAt >= startedAt - 5 && c.connectedAt <= openedAt + 5,
      `connectedAt ${c.connectedAt} not in [${startedAt}, ${openedAt}]`);
    assert.equal(c.requestTimeEpoch, c.connectedAt);
    // Headers as the client sent them, names in their case; the last value, and all of them.
    assert.equal(connect.headers.Host, domainName);
    assert.equal(connect.headers['User-Agent'], userAgent);
    assert.equal(connect.headers['X-Custom'], 'custom value');
    assert.equal(connect.headers['X-Multi'], 'two');
    assert.equal(connect.headers.Upgrade, 'websocket');
    assert.equal(connect.headers['Sec-WebSocket-Version'], '13');
    assert.match(connect.headers['Sec-WebSocket-Key'], /^[A-Za-z0-9+/]{22}==$/);
    assert.deepEqual(Object.keys(connect.multiValueHeaders), Object.keys(connect.headers));
    assert.deepEqual(connect.multiValueHeaders['X-Custom'], ['custom value']);
    assert.deepEqual(connect.multiValueHeaders['X-Multi'], ['one', 'two']);
    assert.deepEqual(connect.multiValueHeaders.Host, [domainName]);
    assert.deepEqual(connect.queryStringParameters, { a: '2', b: 'x' });
    assert.deepEqual(connect.multiValueQueryStringParameters, { a: ['1', '2'], b: ['x'] });
    assert.equal(connect.isBase64Encoded, false);

    // A text message picked by $request.body.action.
    const text = '{"action":"echo","text":"héllo \\"quoted\\" <b>"}';
    await client.send(text);
    const message = await backend.waitFor((e) => e.requestContext.eventType === 'MESSAGE');
    assert.deepEqual(Object.keys(message), ['requestContext', 'body', 'isBase64Encoded']);
    const m = checkContext(message, { eventType: 'MESSAGE', routeKey: 'echo', ...common });
    assert.equal(m.connectionId, connectionId);
    assert.equal(m.connectedAt, c.connectedAt);
    assert.match(m.messageId, ID_RE);
    assert.notEqual(m.requestId, c.requestId);
    assert.equal(message.body, text);
    assert.equal(message.isBase64Encoded, false);

    client.ws.close(4001, 'bye now');
    assert.deepEqual(await client.waitClosed(), { code: 4001, reason: 'bye now' });
    const disconnect = await backend.waitFor((e) => e.requestContext.eventType === 'DISCONNECT');
    assert.deepEqual(Object.keys(disconnect), ['headers', 'multiValueHeaders', 'requestContext',
      'isBase64Encoded']);
    // API Gateway's four $disconnect headers, all but Host empty.
    assert.deepEqual(disconnect.headers,
      { Host: domainName, 'x-api-key': '', 'X-Forwarded-For': '', 'x-restapi': '' });
    assert.deepEqual(disconnect.multiValueHeaders,
      { Host: [domainName], 'x-api-key': [''], 'X-Forwarded-For': [''], 'x-restapi': [''] });
    const d = checkContext(disconnect, { eventType: 'DISCONNECT', routeKey: '$disconnect', ...common });
    assert.equal(d.connectionId, connectionId);
    assert.equal(d.connectedAt, c.connectedAt);
    assert.equal(d.disconnectStatusCode, 4001);
    assert.equal(d.disconnectReason, 'bye now');
    assert.equal(disconnect.isBase64Encoded, false);
    assert.equal(backend.events.length, 3);
  });

  test('no query string: no query keys; no User-Agent: null; a dropped TCP connection is 1006', async () => {
    const client = await Client.connect(gateway.wsUrl);
    const connect = await backend.waitFor((e) => e.requestContext.eventType === 'CONNECT' &&
      !backend.find({ connectionId: e.requestContext.connectionId, eventType: 'DISCONNECT' }).length);
    assert.deepEqual(Object.keys(connect),
      ['headers', 'multiValueHeaders', 'requestContext', 'isBase64Encoded']);
    assert.equal(connect.requestContext.identity.userAgent, null);
    const { connectionId } = connect.requestContext;
    client.ws.terminate();
    const disconnect = await backend.waitFor((e) => e.requestContext.eventType === 'DISCONNECT' &&
      e.requestContext.connectionId === connectionId);
    checkContext(disconnect, { eventType: 'DISCONNECT', routeKey: '$disconnect', stage: STAGE,
      apiId: API_ID, domainName: `${HOST}:${gateway.port}`, userAgent: null });
    assert.equal(disconnect.requestContext.disconnectStatusCode, 1006);
    assert.equal(disconnect.requestContext.disconnectReason, 'connection closed without a close frame');
  });

  test('$disconnect goes out at once, not at the event loop\'s next timer tick', async () => {
    // The call starts from on_close; its timer must count for the loop's sleep (it used to wait
    // for the 250 ms tick). Median of 5 closes, each timed from the client's close().
    const latencies = [];
    for (let i = 0; i < 5; i++) {
      const { client, id } = await connectTagged(gateway, backend, `prompt-${i}`);
      const started = Date.now();
      client.ws.close(1000);
      await backend.waitFor((e) => e.requestContext.eventType === 'DISCONNECT' &&
        e.requestContext.connectionId === id);
      latencies.push(Date.now() - started);
      await client.waitClosed();
    }
    latencies.sort((x, y) => x - y);
    assert.ok(latencies[2] < 100, `$disconnect latencies ${latencies.join(', ')} ms`);
  });
});

// ---------------------------------------------------------------------------------------------

describe('gateway: $connect decides the upgrade', () => {
  let backend;
  let gateway;
  let fixed;
  let open;
  let unreachable;

  // The backend answers $connect as the query's `mode` says.
  const answers = {
    401: () => ({ status: 401, body: 'no token' }),
    403: () => ({ status: 403, body: 'not you' }),
    500: () => ({ status: 500, body: 'backend broke' }),
    proxy401: () => ({ status: 200, body: { statusCode: 401, body: 'proxy says no' } }),
    chat: () => ({ status: 200, body: { statusCode: 200, headers: { 'Sec-WebSocket-Protocol': 'chat' } } }),
    ok: () => ({ status: 200, body: { statusCode: 200 } }),
  };

  before(async () => {
    backend = await startBackend();
    backend.answer = (event) => (event.requestContext.eventType === 'CONNECT'
      ? answers[event.queryStringParameters?.mode ?? 'ok']() : {});
    const withConnect = routes(backend.url, ['$connect', '$disconnect', '$default']);
    [gateway, fixed, open] = await Promise.all([
      startGateway(gatewayToml({ routes: withConnect })),
      startGateway(gatewayToml({ gateway: { connect_refusal: 403 }, routes: withConnect })),
      startGateway(gatewayToml({ routes: routes(backend.url, ['$disconnect', '$default']) })),
    ]);
    // A port nobody listens on: the gateway's call fails before any answer.
    const closed = await startBackend();
    const deadUrl = closed.url;
    await closed.close();
    unreachable = await startGateway(gatewayToml({
      routes: { $connect: { integration: deadUrl } } }));
  });
  after(async () => {
    await Promise.all([gateway, fixed, open, unreachable].map(stopGateway));
    await backend?.close();
  });

  for (const [mode, status, body] of [['401', 401, 'no token'], ['403', 403, 'not you'],
    ['500', 500, 'backend broke'], ['proxy401', 401, 'proxy says no']]) {
    test(`backend answers ${mode} → the upgrade is refused with ${status}`, async () => {
      const result = await tryUpgrade(`${gateway.wsUrl}/?mode=${mode}`);
      assert.equal(result.ws, undefined, 'the upgrade must not succeed');
      assert.equal(result.status, status);
      assert.equal(result.body, body);
    });
  }

  test('connect_refusal = 403 turns a backend 500 (and a 401) into 403', async () => {
    for (const mode of ['500', '401', 'proxy401']) {
      const result = await tryUpgrade(`${fixed.wsUrl}/?mode=${mode}`);
      assert.equal(result.status, 403, mode);
    }
    const accepted = await tryUpgrade(`${fixed.wsUrl}/?mode=ok`);
    assert.ok(accepted.ws, 'a 2xx answer still accepts');
    accepted.ws.terminate();
  });

  test('a refused connection never gets a $disconnect event', async () => {
    await tryUpgrade(`${gateway.wsUrl}/?mode=403&tag=refused`);
    const connect = await backend.connectEvent('refused');
    await sleep(300);
    assert.deepEqual(backend.find({ connectionId: connect.requestContext.connectionId })
      .map((e) => e.requestContext.eventType), ['CONNECT']);
  });

  test('an unreachable $connect integration refuses with 500', async () => {
    const result = await tryUpgrade(unreachable.wsUrl);
    assert.equal(result.status, 500);
  });

  test('Sec-WebSocket-Protocol from the backend\'s headers becomes the handshake\'s subprotocol', async () => {
    const offered = await tryUpgrade(`${gateway.wsUrl}/?mode=chat&tag=proto`, { protocols: ['superchat', 'chat'] });
    assert.ok(offered.ws, `refused with ${offered.status}`);
    assert.equal(offered.protocol, 'chat');
    const connect = await backend.connectEvent('proto');
    assert.equal(connect.headers['Sec-WebSocket-Protocol'], 'superchat,chat');
    offered.ws.terminate();
    // Not offered by the client: not answered (ws would fail the handshake otherwise).
    const plain = await tryUpgrade(`${gateway.wsUrl}/?mode=chat`);
    assert.ok(plain.ws, `refused with ${plain.status}`);
    assert.equal(plain.protocol, '');
    plain.ws.terminate();
  });

  test('without a $connect route every upgrade is accepted', async () => {
    const result = await tryUpgrade(`${open.wsUrl}/?mode=401`);
    assert.ok(result.ws, `refused with ${result.status}`);
    const client = new Client(result.ws);
    await client.send('{"action":"anything"}');
    const message = await backend.waitFor((e) => e.requestContext.domainName === `${HOST}:${open.port}` &&
      e.requestContext.eventType === 'MESSAGE');
    assert.equal(message.requestContext.routeKey, '$default');
    await client.dispose();
  });
});

// ---------------------------------------------------------------------------------------------

describe('gateway: route selection', () => {
  let backend;
  let nested; // $request.body.a.b with $default
  let strict; // $request.body.action without $default

  before(async () => {
    backend = await startBackend();
    [nested, strict] = await Promise.all([
      startGateway(gatewayToml({ gateway: { route_selection_expression: '$request.body.a.b' },
        routes: routes(backend.url, ['$connect', 'deep', '$default']) })),
      startGateway(gatewayToml({ routes: routes(backend.url, ['$connect', '7', 'true', 'send']) })),
    ]);
  });
  after(async () => {
    await Promise.all([nested, strict].map(stopGateway));
    await backend?.close();
  });

  async function routeOf(id, text, client) {
    const seen = backend.events.length;
    await client.send(text);
    const event = await backend.waitFor((e) => e.requestContext.connectionId === id &&
      e.requestContext.eventType === 'MESSAGE', { from: seen, what: `the MESSAGE for ${text}` });
    assert.equal(event.body, text);
    return event.requestContext.routeKey;
  }

  test('$request.body.a.b: nested JSON picks the route; anything else goes to $default', async () => {
    const { client, id } = await connectTagged(nested, backend, 'nested');
    assert.equal(await routeOf(id, '{"a":{"b":"deep"}}', client), 'deep');
    assert.equal(await routeOf(id, '{"x":0,"a":{"c":1,"b":"deep"}}', client), 'deep');
    assert.equal(await routeOf(id, '{"a":{"b":"shallow"}}', client), '$default');
    assert.equal(await routeOf(id, '{"a":"deep"}', client), '$default');
    assert.equal(await routeOf(id, '{"b":"deep"}', client), '$default');
    assert.equal(await routeOf(id, 'not json at all', client), '$default');
    assert.equal(await routeOf(id, '{"a":{"b":"deep"}', client), '$default');
    await client.expectSilence(100);
    await client.dispose();
  });

  test('numbers and booleans select routes by their text ({"action":7} → "7")', async () => {
    const { client, id } = await connectTagged(strict, backend, 'scalar');
    assert.equal(await routeOf(id, '{"action":7}', client), '7');
    assert.equal(await routeOf(id, '{"action": 7 }', client), '7');
    assert.equal(await routeOf(id, '{"action":true}', client), 'true');
    assert.equal(await routeOf(id, '{"action":"send"}', client), 'send');
    await client.dispose();
  });

  test('no match and no $default: the client gets API Gateway\'s Forbidden frame, the backend nothing', async () => {
    const { client, id } = await connectTagged(strict, backend, 'forbidden');
    const before = backend.events.length;
    const requestIds = new Set();
    for (const text of ['{"action":"nope"}', 'not json', '{"action":"$connect"}', '{"action":7.0}',
      '{"action":null}']) {
      await client.send(text);
      const frame = await client.nextText();
      const m = FORBIDDEN_FRAME_RE.exec(frame);
      assert.ok(m, `not the Forbidden frame: ${frame}`);
      const parsed = JSON.parse(frame);
      assert.deepEqual(Object.keys(parsed), ['message', 'connectionId', 'requestId']);
      assert.equal(parsed.message, 'Forbidden');
      assert.equal(parsed.connectionId, id, 'the id the backend saw at $connect');
      assert.match(parsed.requestId, ID_RE);
      requestIds.add(parsed.requestId);
    }
    assert.equal(requestIds.size, 5, 'a new request id each time');
    await sleep(100);
    assert.equal(backend.events.length, before, 'nothing went to the backend');
    await client.dispose();
  });
});

// ---------------------------------------------------------------------------------------------

describe('gateway: two-way routes', () => {
  let backend;
  let gateway;

  before(async () => {
    backend = await startBackend();
    backend.answer = (event) => {
      switch (event.requestContext.routeKey) {
        case 'plain': return { status: 200, body: 'pong-plain', headers: { 'content-type': 'text/plain' } };
        case 'proxy': return { body: { statusCode: 200, body: 'pong' } };
        case 'object': return { body: { statusCode: 200, body: { n: 1, s: 'x' } } };
        case 'bytes': return { body: { statusCode: 200, body: 'AAEC/w==', isBase64Encoded: true } };
        case 'empty': return { body: { statusCode: 200 } };
        case 'oneway': return { body: { statusCode: 200, body: 'must not arrive' } };
        default: return {};
      }
    };
    gateway = await startGateway(gatewayToml({
      routes: routes(backend.url, ['$connect', 'plain', 'proxy', 'object', 'bytes', 'empty', 'oneway'], {
        plain: { route_response: true },
        proxy: { route_response: true },
        object: { route_response: true },
        bytes: { route_response: true },
        empty: { route_response: true },
      }),
    }));
  });
  after(async () => {
    await stopGateway(gateway);
    await backend?.close();
  });

  test('route_response = true sends the integration\'s answer back; one-way routes send nothing', async () => {
    const { client } = await connectTagged(gateway, backend, 'twoway');
    await client.send('{"action":"plain"}');
    assert.equal(await client.nextText(), 'pong-plain');
    await client.send('{"action":"proxy"}');
    assert.equal(await client.nextText(), 'pong');
    await client.send('{"action":"object"}');
    assert.equal(await client.nextText(), '{"n":1,"s":"x"}');
    await client.send('{"action":"bytes"}');
    const bytes = await client.next();
    assert.equal(bytes.isBinary, true);
    assert.deepEqual([...bytes.data], [0, 1, 2, 255]);
    await client.send('{"action":"empty"}');
    await client.send('{"action":"oneway"}');
    await backend.waitFor((e) => e.requestContext.routeKey === 'oneway');
    await client.expectSilence(300);
    await client.dispose();
  });
});

// ---------------------------------------------------------------------------------------------

describe('gateway: @connections and @topics management API', () => {
  let backend;
  let gateway;
  let guarded;

  before(async () => {
    backend = await startBackend();
    [gateway, guarded] = await Promise.all([
      startGateway(gatewayToml({ routes: routes(backend.url, ['$connect', '$disconnect']) })),
      startGateway(gatewayToml({ management: { token: 's3cret' },
        routes: routes(backend.url, ['$connect']) })),
    ]);
  });
  after(async () => {
    await Promise.all([gateway, guarded].map(stopGateway));
    await backend?.close();
  });

  function assertAwsError(resp, status, type, message) {
    assert.equal(resp.status, status, resp.body);
    assert.equal(resp.headers.get('x-amzn-ErrorType'), type);
    if (message === undefined) {
      assert.equal(resp.body, '');
    } else {
      assert.deepEqual(resp.json(), { message });
    }
  }

  test('PostToConnection delivers text and binary bodies to that client only (200)', async () => {
    const a = await connectTagged(gateway, backend, 'post-a');
    const b = await connectTagged(gateway, backend, 'post-b');
    assert.ok(a.id.endsWith('='), 'the id needs percent-encoding in the path');
    const posted = await connectionRequest(gateway, 'POST', a.id, { body: 'hello "a" é' });
    assert.equal(posted.status, 200);
    assert.equal(posted.body, '');
    assert.match(posted.headers.get('x-amzn-RequestId'), ID_RE);
    assert.equal(await a.client.nextText(), 'hello "a" é');
    const binary = await connectionRequest(gateway, 'POST', a.id, { body: Buffer.from([0xff, 0x00, 0x80]) });
    assert.equal(binary.status, 200);
    const frame = await a.client.next();
    assert.equal(frame.isBinary, true);
    assert.deepEqual([...frame.data], [0xff, 0x00, 0x80]);
    await b.client.expectSilence(150);
    await Promise.all([a.client.dispose(), b.client.dispose()]);
  });

  test('GetConnection: connectedAt, identity and lastActiveAt', async () => {
    const userAgent = 'gw-get/2.0';
    const { client, id, connect } = await connectTagged(gateway, backend, 'get',
      { headers: { 'User-Agent': userAgent } });
    const first = await connectionRequest(gateway, 'GET', id);
    assert.equal(first.status, 200);
    assert.match(first.headers.get('content-type'), /^application\/json/);
    const body = first.json();
    assert.deepEqual(Object.keys(body), ['connectedAt', 'identity', 'lastActiveAt']);
    assert.equal(body.connectedAt, new Date(connect.requestContext.connectedAt).toISOString());
    assert.deepEqual(body.identity, { sourceIp: '127.0.0.1', userAgent });
    assert.match(body.lastActiveAt, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.ok(Date.parse(body.lastActiveAt) >= Date.parse(body.connectedAt));
    await sleep(20);
    const before = Date.now();
    await client.send('{"action":"ping"}'); // no route here: the Forbidden frame, but activity
    await client.nextText();
    const second = (await connectionRequest(gateway, 'GET', id)).json();
    assert.equal(second.connectedAt, body.connectedAt);
    assert.ok(Date.parse(second.lastActiveAt) >= before - 5, `${second.lastActiveAt} after a message`);
    await client.dispose();
  });

  test('DeleteConnection closes the client (204); then the id is gone (410 GoneException)', async () => {
    const { client, id } = await connectTagged(gateway, backend, 'delete');
    const deleted = await connectionRequest(gateway, 'DELETE', id);
    assert.equal(deleted.status, 204);
    assert.equal(deleted.body, '');
    assert.equal(deleted.headers.get('content-length'), null);
    assert.deepEqual(await client.waitClosed(), { code: 1000, reason: 'Connection Closed Normally' });
    const disconnect = await backend.waitFor((e) => e.requestContext.eventType === 'DISCONNECT' &&
      e.requestContext.connectionId === id);
    assert.equal(disconnect.requestContext.disconnectStatusCode, 1000);
    assertAwsError(await connectionRequest(gateway, 'POST', id, { body: 'late' }), 410, 'GoneException');
    assertAwsError(await connectionRequest(gateway, 'GET', id), 410, 'GoneException');
    assertAwsError(await connectionRequest(gateway, 'DELETE', id), 410, 'GoneException');
  });

  test('refusals: unknown id 410, other stage 403, unknown path 403, too large 413', async () => {
    assertAwsError(await connectionRequest(gateway, 'POST', 'AAAAAAAAAAAAAAA=', { body: 'x' }),
      410, 'GoneException');
    assertAwsError(await request(`${gateway.managementBase}/prod/@connections/AAAAAAAAAAAAAAA=`,
      { method: 'POST', body: 'x' }), 403, 'ForbiddenException', 'Forbidden');
    for (const [method, path] of [['POST', '/dev/@nothing/x'], ['GET', '/dev'], ['PUT', '/dev/@connections/x'],
      ['POST', '/dev/@connections/'], ['POST', '/dev/@connections/a/b']]) {
      assertAwsError(await request(`${gateway.managementBase}${path}`, { method, body: method === 'GET' ? undefined : 'x' }),
        403, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
    }
    const { client, id } = await connectTagged(gateway, backend, 'big');
    assertAwsError(await connectionRequest(gateway, 'POST', id, { body: 'z'.repeat(131073) }),
      413, 'PayloadTooLargeException', 'Payload too large');
    // Exactly the limit goes through.
    assert.equal((await connectionRequest(gateway, 'POST', id, { body: 'z'.repeat(131072) })).status, 200);
    assert.equal((await client.nextText()).length, 131072);
    await client.dispose();
  });

  test('a client that never reads makes PostToConnection answer 429 LimitExceededException', async () => {
    const raw = await RawClient.connect(gateway.port, '/?tag=stalled');
    const { requestContext: { connectionId: id } } = await backend.connectEvent('stalled');
    raw.sock.pause(); // read nothing more: the kernel's buffers, then the gateway's, fill up
    const chunk = 'q'.repeat(128 * 1024);
    let answer = null;
    let sent = 0;
    const started = Date.now();
    while (sent < 400 && Date.now() - started < 20_000) {
      const resp = await connectionRequest(gateway, 'POST', id, { body: chunk });
      if (resp.status !== 200) {
        answer = resp;
        break;
      }
      sent += 1;
    }
    assert.ok(answer, `no refusal after ${sent} posts of 128 KiB`);
    assertAwsError(answer, 429, 'LimitExceededException', 'Too Many Requests');
    // The connection itself stays open; once it reads again, the send buffer drains.
    assert.equal((await connectionRequest(gateway, 'GET', id)).status, 200);
    raw.sock.resume();
    raw.destroy();
  });

  test('[management] token: none → 403 MissingAuthenticationToken, wrong → 403 Forbidden, Bearer → 200', async () => {
    const { client, id } = await connectTagged(guarded, backend, 'token');
    assertAwsError(await connectionRequest(guarded, 'POST', id, { body: 'no auth' }),
      403, 'MissingAuthenticationTokenException', 'Missing Authentication Token');
    assertAwsError(await connectionRequest(guarded, 'POST', id, { body: 'wrong',
      headers: { Authorization: 'Bearer s3cre' } }), 403, 'ForbiddenException', 'Forbidden');
    const ok = await connectionRequest(guarded, 'POST', id, { body: 'with token',
      headers: { Authorization: 'Bearer s3cret' } });
    assert.equal(ok.status, 200);
    assert.equal(await client.nextText(), 'with token');
    await client.dispose();
  });

  test('[management] allow_loopback = true lets loopback callers in without the token', async () => {
    const open = await startGateway(gatewayToml({ management: { token: 's3cret', allow_loopback: true },
      routes: routes(backend.url, ['$connect']) }));
    try {
      const { client, id } = await connectTagged(open, backend, 'loopback-allowed');
      const ok = await connectionRequest(open, 'POST', id, { body: 'from loopback' });
      assert.equal(ok.status, 200, ok.body);
      assert.equal(await client.nextText(), 'from loopback');
      // A token shown must still be the right one.
      assertAwsError(await connectionRequest(open, 'POST', id, { body: 'wrong',
        headers: { Authorization: 'Bearer nope' } }), 403, 'ForbiddenException', 'Forbidden');
      await client.dispose();
    } finally {
      await stopGateway(open);
    }
  });

  test('operations: /healthz and /readyz without credentials, /metrics behind them, counting calls', async () => {
    const base = `http://${HOST}:${guarded.managementPort}`;
    for (const path of ['/healthz', '/readyz']) {
      const answer = await request(`${base}${path}`);
      assert.equal(answer.status, 200, path);
      assert.match(answer.json().status, /^(ok|ready)$/);
    }
    assertAwsError(await request(`${base}/metrics`), 403, 'MissingAuthenticationTokenException',
      'Missing Authentication Token');
    const { client, id } = await connectTagged(guarded, backend, 'metrics');
    const auth = { Authorization: 'Bearer s3cret' };
    assert.equal((await connectionRequest(guarded, 'POST', id, { body: 'm', headers: auth })).status, 200);
    await connectionRequest(guarded, 'POST', 'AAAAAAAAAAAAAAA=', { body: 'm', headers: auth });
    const metrics = await request(`${base}/metrics`, { headers: auth });
    assert.equal(metrics.status, 200);
    const value = (series) => Number(metrics.body.split('\n').find((l) => l.startsWith(`${series} `))
      ?.split(' ')[1]);
    assert.equal(value('hibiki_gateway_connections'), 1, metrics.body);
    assert.ok(value('hibiki_gateway_management_calls_total{operation="post_to_connection",status="200"}') >= 1);
    assert.ok(value('hibiki_gateway_management_calls_total{operation="post_to_connection",status="410"}') >= 1);
    assert.ok(value('hibiki_gateway_integration_calls_total{route="$connect",outcome="200"}') >= 1);
    assert.ok(value('hibiki_gateway_integration_duration_seconds_count{route="$connect"}') >= 1);
    assert.ok(value('hibiki_connections_open') >= 1);
    await client.dispose();
  });

  test('@topics: subscribe (204), publish reaches only subscribers with {"delivered":N}, unsubscribe', async () => {
    const [a, b, c] = await Promise.all(['topic-a', 'topic-b', 'topic-c']
      .map((tag) => connectTagged(gateway, backend, tag)));
    const topicUrl = (topic) => `${gateway.managementUrl}/@topics/${topic}`;
    const subscription = (topic, id) => `${topicUrl(topic)}/@connections/${encodeURIComponent(id)}`;
    for (const { id } of [a, b]) {
      const put = await request(subscription('room1', id), { method: 'PUT' });
      assert.equal(put.status, 204);
      assert.equal(put.body, '');
    }
    const published = await request(topicUrl('room1'), { method: 'POST', body: 'to room1' });
    assert.equal(published.status, 200);
    assert.equal(published.body, '{"delivered":2}');
    assert.equal(await a.client.nextText(), 'to room1');
    assert.equal(await b.client.nextText(), 'to room1');
    await c.client.expectSilence(150);
    assert.equal((await request(subscription('room1', b.id), { method: 'DELETE' })).status, 204);
    assert.equal((await request(topicUrl('room1'), { method: 'POST', body: 'again' })).body,
      '{"delivered":1}');
    assert.equal(await a.client.nextText(), 'again');
    await b.client.expectSilence(150);
    assert.equal((await request(topicUrl('empty'), { method: 'POST', body: 'nobody' })).body,
      '{"delivered":0}');
    assertAwsError(await request(subscription('room1', 'AAAAAAAAAAAAAAA='), { method: 'PUT' }),
      410, 'GoneException');
    await Promise.all([a, b, c].map((x) => x.client.dispose()));
  });
});

// ---------------------------------------------------------------------------------------------

describe('gateway: integration failures and timeouts', () => {
  let backend;
  let gateway;

  before(async () => {
    backend = await startBackend();
    backend.answer = (event) => {
      const { routeKey } = event.requestContext;
      if (routeKey === '$connect') {
        return event.queryStringParameters?.slow ? { delayMs: 1000 } : {};
      }
      if (routeKey === 'slow') return { delayMs: 1000, body: 'too late' };
      if (routeKey === 'broken') return { status: 502, body: 'bad gateway' };
      return { body: 'fine' };
    };
    gateway = await startGateway(gatewayToml({
      routes: routes(backend.url, ['$connect', 'slow', 'broken', 'fast'], {
        $connect: { timeout_ms: 100 },
        slow: { timeout_ms: 100, route_response: true },
        broken: { route_response: true },
        fast: { route_response: true },
      }),
    }));
  });
  after(async () => {
    await stopGateway(gateway);
    await backend?.close();
  });

  test('a message route past timeout_ms: "Internal server error" within ~0.5 s', async () => {
    const { client, id } = await connectTagged(gateway, backend, 'timeout');
    const started = Date.now();
    await client.send('{"action":"slow"}');
    const frame = await client.nextText(2000);
    const elapsed = Date.now() - started;
    const m = INTERNAL_ERROR_FRAME_RE.exec(frame);
    assert.ok(m, `not the error frame: ${frame}`);
    assert.equal(m[1], id);
    assert.ok(elapsed >= 90 && elapsed < 500, `answered after ${elapsed} ms`);
    // The late answer never reaches the client, and the connection still works.
    await client.send('{"action":"fast"}');
    assert.equal(await client.nextText(), 'fine');
    await client.expectSilence(1100);
    await client.dispose();
  });

  test('a backend 5xx on a message route: "Internal server error"', async () => {
    const { client, id } = await connectTagged(gateway, backend, 'broken');
    await client.send('{"action":"broken"}');
    const frame = await client.nextText();
    const m = INTERNAL_ERROR_FRAME_RE.exec(frame);
    assert.ok(m, `not the error frame: ${frame}`);
    assert.equal(m[1], id);
    assert.equal(JSON.parse(frame).requestId, m[2]);
    await client.dispose();
  });

  test('$connect past timeout_ms: the upgrade is refused with 500', async () => {
    const started = Date.now();
    const result = await tryUpgrade(`${gateway.wsUrl}/?slow=1`);
    const elapsed = Date.now() - started;
    assert.equal(result.status, 500);
    assert.ok(elapsed < 800, `refused after ${elapsed} ms`);
  });
});

// ---------------------------------------------------------------------------------------------

describe('gateway: graceful stop', () => {
  test('SIGTERM closes clients with 1001 and their $disconnect calls still reach the backend', async () => {
    const backend = await startBackend();
    const gateway = await startGateway(gatewayToml({
      routes: routes(backend.url, ['$connect', '$disconnect']),
    }));
    const clients = [];
    try {
      for (let i = 0; i < 3; i++) clients.push(await Client.connect(gateway.wsUrl));
      const closed = clients.map((c) => c.waitClosed());
      const { code } = await stopGateway(gateway);
      assert.equal(code, 0);
      for (const close of await Promise.all(closed)) assert.equal(close.code, 1001);
      const disconnects = backend.events.filter(
        (r) => r.event.requestContext?.eventType === 'DISCONNECT');
      assert.equal(disconnects.length, 3);
      for (const r of disconnects) assert.equal(r.event.requestContext.disconnectStatusCode, 1001);
    } finally {
      await stopGateway(gateway);
      await backend.close();
    }
  });
});

describe('gateway: binary frames', () => {
  test('aws profile: a binary frame closes the connection with 1003, as API Gateway does', async () => {
    const backend = await startBackend();
    const gateway = await startGateway(gatewayToml({
      routes: routes(backend.url, ['$disconnect', '$default']),
    }));
    try {
      const client = await Client.connect(gateway.wsUrl);
      await client.send(Buffer.from([0x00, 0x01, 0x02]), { binary: true });
      assert.deepEqual(await client.waitClosed(),
        { code: 1003, reason: 'Binary frames are not supported' });
      const disconnect = await backend.waitFor((e) => e.requestContext.eventType === 'DISCONNECT');
      assert.equal(disconnect.requestContext.disconnectStatusCode, 1003);
      assert.equal(backend.events.filter((r) => r.event.requestContext?.eventType === 'MESSAGE').length, 0);
    } finally {
      await stopGateway(gateway);
      await backend.close();
    }
  });

  test('relaxed profile: a binary message goes to $default in base64', async () => {
    const backend = await startBackend();
    const gateway = await startGateway(gatewayToml({
      gateway: { profile: 'relaxed' },
      routes: routes(backend.url, ['$default']),
    }));
    try {
      const client = await Client.connect(gateway.wsUrl);
      await client.send(Buffer.from([0x00, 0x01, 0x02, 0xff, 0xfe]), { binary: true });
      const binary = await backend.waitFor((e) => e.requestContext.eventType === 'MESSAGE');
      assert.equal(binary.requestContext.routeKey, '$default');
      assert.equal(binary.isBase64Encoded, true);
      assert.equal(binary.body, 'AAEC//4=');
      client.ws.close();
      await client.waitClosed();
    } finally {
      await stopGateway(gateway);
      await backend.close();
    }
  });
});

describe('gateway: messages to clients past 32 KB', () => {
  // API Gateway splits what it sends into frames of at most 32 KB; so does the aws profile,
  // for every way a message reaches a client. The relaxed profile sends one frame.
  async function postedFrames(profile, size) {
    const backend = await startBackend();
    const gateway = await startGateway(gatewayToml({ gateway: { profile },
      routes: routes(backend.url, ['$connect']) }));
    try {
      const raw = await RawClient.connect(gateway.port, `/?tag=big-${profile}`);
      const { requestContext } = await backend.connectEvent(`big-${profile}`);
      const body = 'z'.repeat(size);
      const posted = await connectionRequest(gateway, 'POST', requestContext.connectionId, { body });
      assert.equal(posted.status, 200, posted.body);
      const frames = [];
      do frames.push(await raw.nextFrame()); while (!frames.at(-1).fin);
      assert.equal(Buffer.concat(frames.map((f) => f.payload)).toString(), body);
      raw.sock.destroy();
      return frames.map((f) => [f.opcode, f.payload.length, f.fin]);
    } finally {
      await stopGateway(gateway);
      await backend.close();
    }
  }

  test('aws profile: a 100,000-byte PostToConnection arrives as frames of 32,768 bytes', async () => {
    assert.deepEqual(await postedFrames('aws', 100_000), [
      [OP.TEXT, 32_768, false], [OP.CONT, 32_768, false], [OP.CONT, 32_768, false],
      [OP.CONT, 1_696, true]]);
    assert.deepEqual(await postedFrames('aws', 32_768), [[OP.TEXT, 32_768, true]]);
  });

  test('relaxed profile: one frame per message', async () => {
    assert.deepEqual(await postedFrames('relaxed', 100_000), [[OP.TEXT, 100_000, true]]);
  });
});

describe('gateway: the aws profile\'s limits', () => {
  let backend;
  let gateway;
  let idle;
  let rated;

  before(async () => {
    backend = await startBackend();
    const all = routes(backend.url, ['$connect', '$disconnect', '$default']);
    [gateway, idle, rated] = await Promise.all([
      startGateway(gatewayToml({ gateway: { profile: 'aws' }, routes: all })),
      startGateway(gatewayToml({ gateway: { idle_timeout_s: 1 }, routes: all })),
      startGateway(gatewayToml({ gateway: { new_connections_per_second: 2 }, routes: all })),
    ]);
  });
  after(async () => {
    await Promise.all([gateway, idle, rated].map(stopGateway));
    await backend?.close();
  });

  async function closesWith1009(tag, sendIt) {
    const { client, id } = await connectTagged(gateway, backend, tag);
    await sendIt(client);
    assert.equal((await client.waitClosed()).code, 1009);
    const disconnect = await backend.waitFor((e) => e.requestContext.eventType === 'DISCONNECT' &&
      e.requestContext.connectionId === id);
    assert.equal(disconnect.requestContext.disconnectStatusCode, 1009);
    assert.equal(backend.find({ connectionId: id, eventType: 'MESSAGE' }).length, 0);
  }

  async function delivered(tag, sendIt, length) {
    const { client, id } = await connectTagged(gateway, backend, tag);
    await sendIt(client);
    const message = await backend.waitFor((e) => e.requestContext.eventType === 'MESSAGE' &&
      e.requestContext.connectionId === id);
    assert.equal(message.body, 'y'.repeat(length));
    await client.dispose();
  }

  test('frames: 32 KiB is accepted, a 40,000-byte frame closes 1009', async () => {
    await delivered('frame-ok', (c) => c.send(Buffer.alloc(32768, 'y'), { binary: false }), 32768);
    await closesWith1009('frame-big', (c) => c.send(Buffer.alloc(40000, 'y'), { binary: false })
      .catch(() => {}));
    await closesWith1009('frame-edge', (c) => c.send(Buffer.alloc(32769, 'y'), { binary: false })
      .catch(() => {}));
  });

  test('messages: 100 KB in 20 KB frames is delivered, 200 KB closes 1009; 128 KiB is the edge', async () => {
    await delivered('msg-100k', (c) => sendFragmented(c, 100_000, 20_000), 100_000);
    await closesWith1009('msg-200k', (c) => sendFragmented(c, 200_000, 20_000));
    await delivered('msg-edge', (c) => sendFragmented(c, 131072, 32768), 131072);
    await closesWith1009('msg-over', (c) => sendFragmented(c, 131073, 32768));
  });

  test('idle_timeout_s = 1: closed with 1001 after 1-2 s, $disconnect says 1001', async () => {
    const { client, id } = await connectTagged(idle, backend, 'idle');
    const started = Date.now();
    const closed = await client.waitClosed(4000);
    const elapsed = Date.now() - started;
    assert.deepEqual(closed, { code: 1001, reason: 'Going away' });
    assert.ok(elapsed >= 900 && elapsed < 2600, `closed after ${elapsed} ms`);
    const disconnect = await backend.waitFor((e) => e.requestContext.eventType === 'DISCONNECT' &&
      e.requestContext.connectionId === id);
    assert.equal(disconnect.requestContext.disconnectStatusCode, 1001);
    assert.equal(disconnect.requestContext.disconnectReason, 'Going away');
  });

  test('new_connections_per_second = 2: the third immediate upgrade gets 429', async () => {
    const first = await tryUpgrade(rated.wsUrl);
    const second = await tryUpgrade(rated.wsUrl);
    const third = await tryUpgrade(rated.wsUrl);
    assert.ok(first.ws && second.ws, `first two: ${first.status} ${second.status}`);
    assert.equal(third.status, 429);
    // The bucket refills at 2 per second.
    await sleep(600);
    const later = await tryUpgrade(rated.wsUrl);
    assert.ok(later.ws, `after 600 ms: ${later.status}`);
    for (const r of [first, second, later]) r.ws.terminate();
  });
});
