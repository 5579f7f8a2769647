// Broadcast with permessage-deflate: N Node `ws` subscribers that negotiate compression, one
// publisher sending M chat messages of about 1 KiB (a window of W in flight); reports the
// server's CPU per delivery (from /proc/PID/stat) and deliveries per second, hibiki alone with
// Node clients that inflate with context. bench/compare.py's broadcast-deflate workload measures
// the same side by side with uWebSockets, Bun and Node ws (wsload --deflate). Loopback only;
// bounded by M.
//   hibiki chat --db :memory: --rate-limit 0 ... &   (the chat's own rate limit would throttle it)
//   node bench/deflate_broadcast.mjs PORT SERVER_PID [N=200] [M=2000] [W=16]
import { readFileSync } from 'node:fs';
import WebSocket from 'ws';

const [port, pid] = process.argv.slice(2, 4).map(Number);
const [subscribers, messages, window] = [Number(process.argv[4] ?? 200),
  Number(process.argv[5] ?? 2000), Number(process.argv[6] ?? 16)];
const ticksPerSecond = 100;  // USER_HZ
const cpuSeconds = () => {
  const fields = readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1].split(' ');
  return (Number(fields[11]) + Number(fields[12])) / ticksPerSecond;
};

const text = 'The quick brown fox jumps over the lazy dog; '.repeat(23);  // ~1 KiB, compressible
const clients = await Promise.all(Array.from({ length: subscribers }, () => new Promise((res, rej) => {
  const ws = new WebSocket(`ws://127.0.0.1:${port}/ws`, { perMessageDeflate: { threshold: 0 } });
  ws.once('open', () => res(ws));
  ws.once('error', rej);
})));
const negotiated = clients.filter((ws) => ws.extensions.includes('permessage-deflate')).length;

let delivered = 0;
let sent = 0;
let ownReceived = 0;
const publisher = clients[0];
const done = new Promise((resolve) => {
  for (const ws of clients) {
    ws.on('message', () => {
      delivered += 1;
      if (ws === publisher) {
        ownReceived += 1;
        if (sent < messages) send();
        if (ownReceived === messages) resolve();
      }
    });
  }
});
const send = () => {
  sent += 1;
  publisher.send(JSON.stringify({ action: 'message', message: `${sent} ${text}` }));
};
const cpuBefore = cpuSeconds();
const started = process.hrtime.bigint();
for (let i = 0; i < window; ++i) send();
await Promise.race([done, new Promise((r) => setTimeout(r, 120_000))]);
await new Promise((r) => setTimeout(r, 500));  // stragglers
const seconds = Number(process.hrtime.bigint() - started) / 1e9;
const cpu = cpuSeconds() - cpuBefore;
console.log(JSON.stringify({
  subscribers, negotiated, messages: sent, delivered, expected: sent * subscribers,
  deliveries_per_s: Math.round(delivered / seconds),
  server_cpu_us_per_delivery: Number((cpu * 1e6 / delivered).toFixed(3)),
}));
for (const ws of clients) ws.terminate();
