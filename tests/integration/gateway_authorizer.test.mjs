// `hibiki gateway` with a $connect REQUEST authorizer: a node:http server stands in for the
// authorizer Lambda and another for the backend. Checks the identity sources (401 without a
// call), the authorizer event, Allow/Deny/Unauthorized/failures and the statuses they give,
// and requestContext.authorizer in every later event of an allowed connection.
import assert from 'node:assert/strict';
import { after, before, describe, test } from 'node:test';
import { Client, HOST } from './lib/server.mjs';
import {
  gatewayToml, request, startBackend, startGateway, stopGateway, tryUpgrade,
} from './lib/gateway.mjs';

const STAGE = 'test1';
const API_ID = 'abc123';
const ARN = `arn:aws:execute-api:eu-west-3:111122223333:${API_ID}/${STAGE}/$connect`;
const AUTHORIZER_TIMEOUT_MS = 400;

function policy(effect, resource = ARN, extra = {}) {
  return {
    principalId: 'user-42',
    policyDocument: {
      Version: '2012-10-17',
      Statement: [{ Action: 'execute-api:Invoke', Effect: effect, Resource: resource }],
    },
    ...extra,
  };
}

describe('gateway: $connect REQUEST authorizer', () => {
  let authz;
  let backend;
  let gateway;

  before(async () => {
    authz = await startBackend();
    backend = await startBackend();
    const routes = {};
    for (const key of ['$connect', '$disconnect', '$default']) routes[key] = { integration: backend.url };
    gateway = await startGateway(gatewayToml({
      gateway: { stage: STAGE, api_id: API_ID },
      routes,
      authorizer: {
        integration: `${authz.url}authorize`,
        identity_sources: ['route.request.header.Auth', 'route.request.querystring.token'],
        timeout_ms: AUTHORIZER_TIMEOUT_MS,
        account_id: '111122223333',
        region: 'eu-west-3',
      },
    }), { stage: STAGE });
  });
  after(async () => {
    await stopGateway(gateway);
    await authz?.close();
    await backend?.close();
  });

  /** An upgrade with the Auth header and ?token=…&tag=<tag>. */
  function upgrade(tag, { auth = 'secret', token = 'tok', extraQuery = '' } = {}) {
    const query = [token === null ? null : `token=${token}`, `tag=${tag}`].filter(Boolean).join('&');
    const headers = auth === null ? {} : { Auth: auth };
    return tryUpgrade(`${gateway.wsUrl}/?${query}${extraQuery}`, { headers });
  }

  const connectsFor = (tag) => backend.events.filter((r) =>
    r.event.requestContext?.eventType === 'CONNECT' && r.event.queryStringParameters?.tag === tag);
  const authzCallsFor = (tag) => authz.events.filter((r) => r.event.queryStringParameters?.tag === tag);

  test('a missing or empty identity source: 401 and the authorizer is never called', async () => {
    authz.answer = () => ({ body: policy('Allow') });
    for (const [tag, options] of [['noheader', { auth: null }], ['notoken', { token: null }],
      ['emptytoken', { token: '' }], ['emptyheader', { auth: '' }]]) {
      const result = await upgrade(tag, options);
      assert.equal(result.status, 401, tag);
      assert.equal(result.body, '{"message":"Unauthorized"}');
      assert.equal(authzCallsFor(tag).length, 0, `${tag}: the authorizer was called`);
      assert.equal(connectsFor(tag).length, 0);
    }
    assert.match(gateway.stderr, /identity source route\.request\.header\.Auth missing or empty/);
  });

  test('Allow: the authorizer event, then requestContext.authorizer in $connect, messages and $disconnect', async () => {
    authz.answer = () => ({
      body: policy('Allow', `arn:aws:execute-api:eu-west-3:111122223333:${API_ID}/*`, {
        context: { stringKey: 'value', numberKey: 123, booleanKey: true },
      }),
    });
    const client = await Client.connect(`${gateway.wsUrl}/?token=tok&tag=allow&room=a&room=b`, {
      headers: { Auth: 'secret', 'User-Agent': 'authz-test/1.0' },
    });
    const [call] = authzCallsFor('allow');
    assert.ok(call, 'the authorizer was not called');
    assert.equal(call.method, 'POST');
    assert.equal(call.path, '/authorize');
    const e = call.event;
    assert.deepEqual(Object.keys(e), ['type', 'methodArn', 'headers', 'multiValueHeaders',
      'queryStringParameters', 'multiValueQueryStringParameters', 'stageVariables', 'requestContext']);
    assert.equal(e.type, 'REQUEST');
    assert.equal(e.methodArn, ARN);
    assert.equal(e.headers.Auth, 'secret');
    assert.deepEqual(e.multiValueHeaders.Auth, ['secret']);
    assert.equal(e.headers['X-Forwarded-For'], '127.0.0.1');
    assert.deepEqual(e.queryStringParameters, { token: 'tok', tag: 'allow', room: 'b' });
    assert.deepEqual(e.multiValueQueryStringParameters.room, ['a', 'b']);
    assert.deepEqual(e.stageVariables, {});
    assert.equal(e.requestContext.routeKey, '$connect');
    assert.equal(e.requestContext.eventType, 'CONNECT');
    assert.equal(e.requestContext.stage, STAGE);
    assert.equal(e.requestContext.apiId, API_ID);
    assert.equal(e.requestContext.authorizer, undefined);
    assert.deepEqual(e.requestContext.identity, { sourceIp: '127.0.0.1', userAgent: 'authz-test/1.0' });

    const [connect] = connectsFor('allow').map((r) => r.event);
    assert.ok(connect, 'no CONNECT after Allow');
    assert.equal(connect.requestContext.connectionId, e.requestContext.connectionId);
    const authorizer = connect.requestContext.authorizer;
    assert.deepEqual(Object.keys(connect.requestContext).slice(0, 2), ['routeKey', 'authorizer']);
    assert.deepEqual(Object.keys(authorizer),
      ['principalId', 'integrationLatency', 'stringKey', 'numberKey', 'booleanKey']);
    assert.equal(authorizer.principalId, 'user-42');
    assert.ok(Number.isInteger(authorizer.integrationLatency) && authorizer.integrationLatency >= 0);
    assert.equal(authorizer.stringKey, 'value');
    assert.equal(authorizer.numberKey, '123');
    assert.equal(authorizer.booleanKey, 'true');

    const id = connect.requestContext.connectionId;
    await client.send(JSON.stringify({ action: 'hello' }));
    const message = await backend.waitFor((ev) =>
      ev.requestContext?.eventType === 'MESSAGE' && ev.requestContext.connectionId === id);
    assert.deepEqual(message.requestContext.authorizer, authorizer);
    client.ws.close(1000, 'bye');
    const disconnect = await backend.waitFor((ev) =>
      ev.requestContext?.eventType === 'DISCONNECT' && ev.requestContext.connectionId === id);
    assert.deepEqual(disconnect.requestContext.authorizer, authorizer);
  });

  test('Deny: 403 with the explicit-deny body, and $connect is never called', async () => {
    authz.answer = () => ({
      body: {
        principalId: 'u',
        policyDocument: { Statement: [
          { Action: 'execute-api:Invoke', Effect: 'Allow', Resource: '*' },
          { Action: 'execute-api:Invoke', Effect: 'Deny', Resource: ARN },
        ] },
      },
    });
    const result = await upgrade('deny');
    assert.equal(result.status, 403);
    assert.equal(result.body,
      '{"message":"User is not authorized to access this resource with an explicit deny"}');
    assert.equal(authzCallsFor('deny').length, 1);
    assert.equal(connectsFor('deny').length, 0);
  });

  test('no statement matches the methodArn: 403 (implicit deny)', async () => {
    authz.answer = () => ({ body: policy('Allow', ARN.replace(`/${STAGE}/`, '/prod/')) });
    const result = await upgrade('implicit');
    assert.equal(result.status, 403);
    assert.equal(result.body, '{"message":"User is not authorized to access this resource"}');
    assert.equal(connectsFor('implicit').length, 0);
  });

  test('"Unauthorized" from the authorizer: 401', async () => {
    authz.answer = () => ({ body: { errorMessage: 'Unauthorized', errorType: 'Error' } });
    let result = await upgrade('unauth1');
    assert.equal(result.status, 401);
    assert.equal(result.body, '{"message":"Unauthorized"}');
    authz.answer = () => ({ status: 401, body: 'nope' });
    result = await upgrade('unauth2');
    assert.equal(result.status, 401);
    assert.equal(connectsFor('unauth1').length + connectsFor('unauth2').length, 0);
  });

  test('authorizer failures: 500 for a 500, garbage, a bad context value and a timeout', async () => {
    const cases = [
      ['fail500', () => ({ status: 500, body: policy('Allow') }), /HTTP 500/],
      ['garbage', () => ({ body: 'this is not json' }), /the answer is not a JSON object/],
      ['badcontext', () => ({ body: policy('Allow', ARN, { context: { o: { a: 1 } } }) }),
        /context\.o is not a string, number or boolean/],
      ['slow', () => ({ body: policy('Allow'), delayMs: AUTHORIZER_TIMEOUT_MS + 600 }),
        /timeout after 400 ms/],
    ];
    for (const [tag, answer, log] of cases) {
      authz.answer = answer;
      const started = Date.now();
      const result = await upgrade(tag);
      assert.equal(result.status, 500, tag);
      assert.equal(result.body, '{"message":null}');
      assert.ok(Date.now() - started < AUTHORIZER_TIMEOUT_MS + 2000, `${tag} took too long`);
      assert.equal(connectsFor(tag).length, 0);
      assert.match(gateway.stderr, log);
    }
  });

  test('/metrics counts authorizer outcomes', async () => {
    const metrics = await request(`${gateway.managementBase}/metrics`);
    assert.equal(metrics.status, 200);
    const count = (outcome) => Number(metrics.body.split('\n')
      .find((l) => l.startsWith(`hibiki_gateway_authorizer_total{outcome="${outcome}"} `))?.split(' ')[1]);
    assert.ok(count('allow') >= 1, metrics.body);
    assert.ok(count('deny') >= 2);
    assert.ok(count('unauthorized') >= 6);
    assert.ok(count('error') >= 4);
  });
});

describe('gateway: authorizer without a $connect route', () => {
  test('Allow accepts the upgrade at once; the message event carries the authorizer', async () => {
    const authz = await startBackend();
    const backend = await startBackend();
    let gateway;
    try {
      authz.answer = () => ({ body: policy('Allow', '*', { context: { tenant: 't1' } }) });
      gateway = await startGateway(gatewayToml({
        gateway: { stage: STAGE, api_id: API_ID },
        routes: { $default: { integration: backend.url } },
        authorizer: { integration: authz.url },
      }), { stage: STAGE });
      const client = await Client.connect(`${gateway.wsUrl}/`);
      // The defaults: us-east-1 and AWS's documentation account.
      assert.equal(authz.events[0].event.methodArn,
        `arn:aws:execute-api:us-east-1:123456789012:${API_ID}/${STAGE}/$connect`);
      assert.equal(authz.events[0].event.queryStringParameters, undefined);
      await client.send('hi');
      const message = await backend.waitFor((e) => e.requestContext?.eventType === 'MESSAGE');
      assert.equal(message.requestContext.authorizer.principalId, 'user-42');
      assert.equal(message.requestContext.authorizer.tenant, 't1');
      await client.dispose();
    } finally {
      await stopGateway(gateway);
      await authz.close();
      await backend.close();
    }
  });
});
