// Node `ws` peer for side-by-side benchmarks: /echo echoes, /chat runs the talk's broadcast.
// Same settings as the anchors: 16 MiB max message, no idle timeout, no permessage-deflate unless
// --deflate (then every message is compressed: threshold 0); wss:// with --tls CERT KEY.
//   node bench/peers/node-ws-server.mjs PORT [--tls CERT KEY] [--deflate]
import { readFileSync } from 'node:fs';
import http from 'node:http';
import https from 'node:https';
import { WebSocketServer } from 'ws';

const port = Number(process.argv[2] ?? 9100);
const tlsAt = process.argv.indexOf('--tls');
const notFound = (req, res) => res.writeHead(404).end();
const server = tlsAt > 0
  ? https.createServer({ cert: readFileSync(process.argv[tlsAt + 1]),
    key: readFileSync(process.argv[tlsAt + 2]) }, notFound)
  : http.createServer(notFound);
const perMessageDeflate = process.argv.includes('--deflate') ? { threshold: 0 } : false;
const wss = new WebSocketServer({ noServer: true, perMessageDeflate, maxPayload: 16 << 20 });
const chatClients = new Set();
let nextId = 1;

server.on('upgrade', (req, socket, head) => {
  socket.setNoDelay(true);
  wss.handleUpgrade(req, socket, head, (ws) => {
    if (req.url.startsWith('/chat')) {
      const id = nextId++;
      chatClients.add(ws);
      ws.on('close', () => chatClients.delete(ws));
      ws.on('message', (data) => {
        let text;
        try {
          text = JSON.parse(data.toString()).message;
        } catch {
          return;
        }
        // One prepared buffer for every client, sent as a text frame (the talk's JSON).
        const out = Buffer.from(JSON.stringify({ type: 'message', body: `Client ${id}: ${text}` }));
        for (const client of chatClients) client.send(out, { binary: false });
      });
    } else {
      ws.on('message', (data, isBinary) => ws.send(data, { binary: isBinary }));
    }
  });
});
server.listen(port, '127.0.0.1', () => console.error(`listening on port ${port}`));
process.on('SIGTERM', () => process.exit(0));
