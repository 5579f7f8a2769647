// SIGTERM: every client is told "going away" (1001) and the process exits cleanly.
import assert from 'node:assert/strict';
import { after, test } from 'node:test';
import { joinChat, startServer, stopServer, withTimeout } from './lib/server.mjs';

let server;
after(() => stopServer(server));

test('SIGTERM closes every client with 1001 and exits with status 0', { timeout: 30_000 }, async () => {
  server = await startServer('chat');
  const members = await Promise.all([joinChat(server), joinChat(server, '/ws'), joinChat(server)]);

  server.process.kill('SIGTERM');
  const closes = await Promise.all(members.map((m) => m.client.waitClosed(5000)));
  for (const close of closes) assert.equal(close.code, 1001);

  const exit = await withTimeout(server.exited, 5000, 'hibiki to exit after SIGTERM');
  assert.deepEqual(exit, { code: 0, signal: null });
});
