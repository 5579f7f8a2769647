// Durable history over real sockets: the last N on join, paging back, resume with `since`
// (exactly the missed messages, or a clear history_gap), a kill -9 and restart on the same
// database, and the per-connection limits (rate, text length).
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join as joinPath } from 'node:path';
import { after, before, describe, test } from 'node:test';
import {
  joinChat, killServer, sleep, startServer, stopServer, talkClient,
} from './lib/server.mjs';

const texts = (history) => history.messages.map((m) => m.text);
const ids = (history) => history.messages.map((m) => m.id);

// Joins `room` (optionally resuming after `since`) and returns every frame of the answer up to
// and including the history: [error?, joined, history] with presence skipped.
async function enter(client, room, since) {
  await client.send(JSON.stringify({ action: 'join', room, since }));
  const frames = [];
  for (;;) {
    const frame = await client.nextJson();
    if (frame.type === 'presence') continue;
    frames.push(frame);
    if (frame.type === 'history') return frames;
  }
}

async function post(client, room, text) {
  await client.send(JSON.stringify({ action: 'message', room, message: text }));
  for (;;) {
    const frame = await client.nextJson();
    if (frame.type === 'error') throw new Error(`posting "${text}": ${JSON.stringify(frame)}`);
    if (frame.type === 'message' && frame.text === text) return frame;
  }
}

describe('chat history', { timeout: 30_000 }, () => {
  let server;
  const open = [];
  const join = async (options) => {
    const member = await joinChat(server, '/', options);
    open.push(member.client);
    return member;
  };

  before(async () => {
    server = await startServer('chat', { extraArgs: ['--history', '5', '--max-text', '10',
      '--rate-burst', '200'] });
  });
  after(async () => {
    await Promise.all(open.map((c) => c.dispose()));
    await stopServer(server);
  });

  test('a joining client gets the last N messages, oldest first, and can page back', async () => {
    const a = await join({ name: 'writer' });
    const [, first] = await enter(a.client, 'h-join');
    assert.deepEqual(first.messages, []);
    assert.equal(first.latest, 0);
    for (let i = 1; i <= 8; i++) await post(a.client, 'h-join', `m${i}`);

    const b = await join();
    const [joined, history] = await enter(b.client, 'h-join');
    assert.equal(joined.type, 'joined');
    assert.deepEqual(ids(history), [4, 5, 6, 7, 8]);
    assert.deepEqual(texts(history), ['m4', 'm5', 'm6', 'm7', 'm8']);
    assert.equal(history.latest, 8);
    for (const m of history.messages) {
      assert.equal(m.type, 'message');
      assert.equal(m.room, 'h-join');
      assert.deepEqual(m.from, { id: a.id, name: 'writer' });
      assert.equal(m.body, `Client writer: ${m.text}`);
    }

    await b.client.send('{"action":"history","room":"h-join","before":4}');
    const older = await b.client.nextOfType('history');
    assert.deepEqual(ids(older), [1, 2, 3]);
    assert.equal(older.before, 4);
  });

  test('join with since delivers exactly the missed messages, or a history_gap then the last N', async () => {
    const a = await join();
    await enter(a.client, 'h-since');
    for (let i = 1; i <= 8; i++) await post(a.client, 'h-since', `s${i}`);
    const b = await join();

    let frames = await enter(b.client, 'h-since', 6);
    assert.deepEqual(frames.map((f) => f.type), ['joined', 'history']);
    assert.deepEqual(ids(frames[1]), [7, 8]);

    frames = await enter(b.client, 'h-since', 8); // up to date: nothing, no gap
    assert.deepEqual(frames.map((f) => f.type), ['joined', 'history']);
    assert.deepEqual(frames[1].messages, []);
    assert.equal(frames[1].latest, 8);

    frames = await enter(b.client, 'h-since', 3); // missed exactly N = 5: still exact
    assert.deepEqual(ids(frames[1]), [4, 5, 6, 7, 8]);

    frames = await enter(b.client, 'h-since', 2); // missed 6 > N: a gap
    assert.deepEqual(frames.map((f) => f.type), ['joined', 'error', 'history']);
    const gap = frames[1];
    assert.equal(gap.error, 'history_gap');
    assert.equal(gap.room, 'h-since');
    assert.equal(gap.since, 2);
    assert.equal(gap.latest, 8);
    assert.equal(gap.max, 5);
    assert.deepEqual(ids(frames[2]), [4, 5, 6, 7, 8]);

    frames = await enter(b.client, 'h-since', 99); // ahead of the history: it was replaced
    assert.deepEqual(frames.map((f) => f.type), ['joined', 'error', 'history']);
    assert.equal(frames[1].error, 'history_gap');
    assert.deepEqual(ids(frames[2]), [4, 5, 6, 7, 8]);

    const c = await join();
    frames = await enter(c.client, 'h-since-small', 0); // since 0 in an empty room: no gap
    assert.deepEqual(frames[1].messages, []);
    await post(c.client, 'h-since-small', 'only');
    frames = await enter(c.client, 'h-since-small', 0);
    assert.deepEqual(texts(frames[1]), ['only']);
  });

  test('hello with since resumes the lobby', async () => {
    const a = await join();
    const posted = [];
    for (let i = 1; i <= 3; i++) posted.push(await post(a.client, 'lobby', `l${i}`));
    const b = await join({ since: posted[0].id });
    assert.deepEqual(texts(b.history), ['l2', 'l3']);
  });

  test('message text: at most --max-text characters, not blank', async () => {
    const a = await join();
    await post(a.client, 'lobby', '🎉'.repeat(10)); // 10 characters, 40 bytes
    await a.client.send(JSON.stringify({ action: 'message', message: 'x'.repeat(11) }));
    const tooLong = await a.client.nextOfType('error');
    assert.equal(tooLong.error, 'message_too_long');
    assert.equal(tooLong.max, 10);
    assert.equal(tooLong.room, 'lobby');
    await a.client.send('{"action":"message","message":" \\n\\t "}');
    assert.equal((await a.client.nextOfType('error')).error, 'empty_message');
    await post(a.client, 'lobby', 'ok');
  });
});

describe('chat history survives kill -9', { timeout: 30_000 }, () => {
  let dir;
  let server;
  const open = [];
  before(() => { dir = mkdtempSync(joinPath(tmpdir(), 'hibiki-chat-')); });
  after(async () => {
    await Promise.all(open.map((c) => c.dispose()));
    await stopServer(server);
    rmSync(dir, { recursive: true, force: true });
  });

  test('a client resuming with since after a restart gets exactly what it missed', async () => {
    const db = joinPath(dir, 'sub', 'chat.db'); // the directory is created
    server = await startServer('chat', { db });
    const reader = await joinChat(server, '/', { name: 'reader' });
    const writer = await joinChat(server, '/', { name: 'writer' });
    open.push(reader.client, writer.client);
    await enter(reader.client, 'durable');
    await enter(writer.client, 'durable');
    for (const text of ['one', 'two', 'three']) await post(writer.client, 'durable', text);
    let seen = 0;
    while (seen < 3) seen = (await reader.client.nextOfType('message')).id;
    const lobbySeen = (await post(writer.client, 'lobby', 'lobby before')).id;

    // The reader drops off; the writer goes on; then the server dies without a goodbye.
    await reader.client.dispose();
    await post(writer.client, 'durable', 'four');
    await post(writer.client, 'durable', 'five');
    await post(writer.client, 'lobby', 'lobby missed');
    const exit = await killServer(server);
    assert.equal(exit.signal, 'SIGKILL');
    await writer.client.waitClosed();

    server = await startServer('chat', { db });
    const writer2 = await joinChat(server, '/', { name: 'writer' });
    open.push(writer2.client);
    assert.deepEqual(texts(writer2.history), ['lobby before', 'lobby missed']);
    await enter(writer2.client, 'durable');
    const six = await post(writer2.client, 'durable', 'six');
    assert.equal(six.id, 6, 'ids continue after the restart');

    const reader2 = await joinChat(server, '/', { name: 'reader', since: lobbySeen });
    open.push(reader2.client);
    assert.deepEqual(texts(reader2.history), ['lobby missed']);
    const frames = await enter(reader2.client, 'durable', seen);
    assert.deepEqual(frames.map((f) => f.type), ['joined', 'history']);
    assert.deepEqual(ids(frames[1]), [4, 5, 6]);
    assert.deepEqual(texts(frames[1]), ['four', 'five', 'six']);
    // Live traffic picks up right after: no duplicate, no gap.
    await post(writer2.client, 'durable', 'seven');
    const live = await reader2.client.nextOfType('message');
    assert.equal(live.id, 7);
    assert.equal(live.text, 'seven');
  });
});

describe('chat rate limit', { timeout: 30_000 }, () => {
  let server;
  const open = [];
  before(async () => {
    server = await startServer('chat', { extraArgs: ['--rate-limit', '2', '--rate-burst', '3'] });
  });
  after(async () => {
    await Promise.all(open.map((c) => c.dispose()));
    await stopServer(server);
  });

  test('past the burst each request gets rate_limited with retry_ms; later ones go through', async () => {
    const a = await joinChat(server); // the hello took one of three tokens
    open.push(a.client);
    for (let i = 1; i <= 4; i++) {
      await a.client.send(JSON.stringify({ action: 'message', message: `r${i}` }));
    }
    const replies = [];
    while (replies.length < 4) {
      const frame = await a.client.nextJson();
      if (frame.type === 'message' || frame.type === 'error') replies.push(frame);
    }
    assert.deepEqual(replies.map((r) => r.text ?? r.error),
      ['r1', 'r2', 'rate_limited', 'rate_limited']);
    const { retry_ms: retryMs } = replies[2];
    assert.ok(retryMs > 0 && retryMs <= 500, `retry_ms ${retryMs}`);
    await sleep(retryMs + 50);
    await a.client.send('{"action":"message","message":"later"}');
    assert.equal((await a.client.nextOfType('message')).text, 'later');
  });

  test("the talk's client gets the bare rate_limited error", async () => {
    const talk = await talkClient(server);
    open.push(talk);
    for (let i = 1; i <= 5; i++) await talk.send(`{"action":"message","message":"t${i}"}`);
    const replies = [];
    for (let i = 0; i < 5; i++) replies.push(await talk.nextText());
    assert.equal(replies.filter((r) => r === '{"type":"error","error":"rate_limited"}').length, 2);
    assert.equal(replies.filter((r) => /"body":"Client \d+: t\d"/.test(r)).length, 3);
  });
});
