// Plain HTTP on the chat server: the page and its assets, 404 for anything else.
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { after, before, describe, test } from 'node:test';
import { WEB_ROOT, httpGet, startServer, stopServer } from './lib/server.mjs';

describe('static files', { timeout: 30_000 }, () => {
  let chat;
  before(async () => { chat = await startServer('chat'); });
  after(() => stopServer(chat));

  test('GET / serves the chat page as text/html', async () => {
    const res = await httpGet(chat.port, '/');
    assert.equal(res.status, 200);
    assert.match(res.headers['content-type'], /^text\/html\b/);
    assert.equal(res.body, readFileSync(join(WEB_ROOT, 'index.html'), 'utf8'));
    assert.match(res.body, /id="messages"/);
  });

  test('GET /app.js and /style.css serve the assets with fitting types', async () => {
    const js = await httpGet(chat.port, '/app.js');
    assert.equal(js.status, 200);
    assert.match(js.headers['content-type'], /^(text|application)\/javascript\b/);
    assert.equal(js.body, readFileSync(join(WEB_ROOT, 'app.js'), 'utf8'));

    const css = await httpGet(chat.port, '/style.css');
    assert.equal(css.status, 200);
    assert.match(css.headers['content-type'], /^text\/css\b/);
    assert.equal(css.body, readFileSync(join(WEB_ROOT, 'style.css'), 'utf8'));
  });

  test('unknown paths are 404', async () => {
    for (const path of ['/nope', '/app.js.bak', '/web/index.html']) {
      const res = await httpGet(chat.port, path);
      assert.equal(res.status, 404, path);
    }
  });

  test('path traversal does not escape the web root', async () => {
    for (const path of ['/../CMakeLists.txt', '/%2e%2e/CMakeLists.txt', '/..%2fCMakeLists.txt']) {
      const res = await httpGet(chat.port, path);
      assert.ok(res.status === 404 || res.status === 400, `${path} -> ${res.status}`);
      assert.doesNotMatch(res.body, /cmake_minimum_required/);
    }
  });
});
