// --log-format json: one valid JSON object per stderr line, whatever hostile clients send
// (quotes, backslashes, control characters, newlines and invalid UTF-8 in the path, the
// User-Agent, the subprotocol and the close reason).
import assert from 'node:assert/strict';
import { randomBytes } from 'node:crypto';
import { after, before, describe, test } from 'node:test';
import {
  HOST, OP, RawClient, eventually, rawExchange, startServer, stopServer,
} from './lib/server.mjs';

const MAX = 1000;
const HOSTILE = 'a "quoted" \\back\\slash\t\u0001\u001f\u007f';

function lines(server) {
  return server.stderr.split('\n').filter((l) => l !== '');
}

function closePayload(code, reason) {
  const b = Buffer.alloc(2);
  b.writeUInt16BE(code);
  return Buffer.concat([b, Buffer.isBuffer(reason) ? reason : Buffer.from(reason, 'utf8')]);
}

function rawUpgrade(port, { path, userAgent, protocol, version = '13' }) {
  const head = [
    `GET ${path} HTTP/1.1`,
    `Host: ${HOST}:${port}`,
    'Upgrade: websocket',
    'Connection: Upgrade',
    `Sec-WebSocket-Key: ${randomBytes(16).toString('base64')}`,
    `Sec-WebSocket-Version: ${version}`,
    `User-Agent: ${userAgent}`,
    ...(protocol ? [`Sec-WebSocket-Protocol: ${protocol}`] : []),
  ].join('\r\n');
  return Buffer.from(`${head}\r\n\r\n`, 'latin1');
}

describe('JSON logs', { timeout: 30_000 }, () => {
  let server;
  before(async () => {
    server = await startServer('echo', {
      maxMessage: MAX, extraArgs: ['--log-format', 'json', '--log-level', 'debug'],
    });
  });
  after(() => stopServer(server));

  test('the start lines are JSON (the I/O backend, then where it listens) and the helpers still '
    + 'find the port', () => {
    const backend = JSON.parse(lines(server)[0]);
    assert.equal(backend.level, 'info');
    assert.match(backend.message, /^I\/O backend: (epoll|io_uring)/);
    assert.match(backend.io, /^(epoll|io_uring)$/);
    const first = JSON.parse(lines(server)[1]);
    assert.equal(first.level, 'info');
    assert.match(first.time, /^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{3}Z$/);
    assert.equal(first.message, `hibiki echo listening on http://${HOST}:${server.port}`);
    assert.equal(first.job, 'echo');
    assert.equal(first.listening, `http://${HOST}:${server.port}`);
  });

  test('hostile clients still give one valid JSON object per line', async () => {
    // A refused handshake (version 12) whose path and User-Agent hold quotes, backslashes,
    // invalid UTF-8 (latin1 bytes 0xff 0xe9) and a subprotocol of the same.
    const hostileLatin1 = 'ua "x" \\ \xff\xe9 \x80';
    const refused = await rawExchange(server.port, rawUpgrade(server.port, {
      path: '/p"a\\th\xff', userAgent: hostileLatin1, protocol: 'p"\\\xfe', version: '12',
    }));
    assert.match(refused.text, /^HTTP\/1\.1 426/);

    // Upgraded clients that close with hostile reasons, valid and not valid UTF-8.
    const reasons = [HOSTILE, 'two\nlines\r\n', '\u2028 ☃ 😀'];
    for (const reason of reasons) {
      const c = await RawClient.connect(server.port, '/x');
      c.send({ opcode: OP.CLOSE, payload: closePayload(4000, reason) });
      await c.nextClose();
      await c.ended;
    }
    const invalid = await RawClient.connect(server.port, '/x');
    invalid.send({ opcode: OP.CLOSE, payload: closePayload(4000, Buffer.from([0x22, 0xff, 0x5c])) });
    assert.equal((await invalid.nextClose()).code, 1007);
    await invalid.ended;

    // A message past --max-message: closed with 1009.
    const big = await RawClient.connect(server.port, '/x');
    big.send({ opcode: OP.TEXT, payload: Buffer.alloc(MAX + 1, 0x61) });
    assert.equal((await big.nextClose()).code, 1009);
    await big.ended;

    const closedReasons = () => lines(server).map((l) => JSON.parse(l))
      .filter((o) => o.code === 4000).map((o) => o.reason);
    await eventually(() => closedReasons().length >= reasons.length, 5000, 'closed lines');

    const objects = lines(server).map((line) => {
      const o = JSON.parse(line); // throws on any line that is not one JSON value
      assert.equal(typeof o, 'object');
      assert.equal(typeof o.time, 'string');
      assert.ok(['debug', 'info', 'warn', 'error'].includes(o.level), line);
      assert.equal(typeof o.message, 'string');
      return o;
    });

    for (const reason of reasons) assert.ok(closedReasons().includes(reason), reason);

    const refusal = objects.find((o) => o.message.includes('handshake refused'));
    assert.equal(refusal.status, 426);
    assert.equal(refusal.path, '/p"a\\th\uFFFD');
    assert.equal(refusal.user_agent, 'ua "x" \\ \uFFFD\uFFFD \uFFFD');
    assert.equal(typeof refusal.conn, 'number');
    assert.match(refusal.peer, /^127\.0\.0\.1:\d+$/);
    const request = objects.find((o) => o.message.endsWith('upgrade request') && o.conn === refusal.conn);
    assert.equal(request.protocols, 'p"\\\uFFFD');

    const invalidClose = objects.find((o) => o.code === 1007);
    assert.equal(invalidClose.reason, 'invalid close frame');
    const tooBig = objects.find((o) => o.code === 1009 && o.message.includes('closing 1009'));
    assert.equal(typeof tooBig.conn, 'number');
    assert.match(tooBig.peer, /^127\.0\.0\.1:\d+$/);
  });

  test('every line of a stopped server is JSON, the last one says it stopped', async () => {
    await stopServer(server);
    const objects = lines(server).map((l) => JSON.parse(l));
    assert.equal(objects.at(-1).message, 'hibiki echo stopped');
  });
});
