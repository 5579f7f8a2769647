// Bun peer for side-by-side benchmarks: /echo echoes, /chat runs the talk's broadcast with
// Bun's own publish/subscribe. Same settings as the anchors and node-ws-server.mjs: 16 MiB max
// message, no idle timeout, no permessage-deflate unless --deflate (then every send and publish
// asks for compression); wss:// with --tls CERT KEY.
//   bench/peers/node_modules/@oven/bun-linux-x64/bin/bun bench/peers/bun-server.mjs PORT
//       [--tls CERT KEY] [--deflate]
const port = Number(process.argv[2] ?? 9100);
const tlsAt = process.argv.indexOf('--tls');
const tls = tlsAt > 0 ? { cert: Bun.file(process.argv[tlsAt + 1]), key: Bun.file(process.argv[tlsAt + 2]) }
  : undefined;
const deflate = process.argv.includes('--deflate');
const topic = 'chat';
let nextId = 1;

const server = Bun.serve({
  hostname: '127.0.0.1',
  port,
  tls,
  fetch(req, srv) {
    const chat = new URL(req.url).pathname.startsWith('/chat');
    // Like node-ws-server.mjs, only chat connections take an id, in the order they open.
    const data = chat ? { chat, id: nextId } : { chat };
    if (srv.upgrade(req, { data })) {
      if (chat) nextId++;
      return undefined;
    }
    return new Response(null, { status: 404 });
  },
  websocket: {
    perMessageDeflate: deflate,
    maxPayloadLength: 16 << 20,
    idleTimeout: 0,
    sendPings: false,
    open(ws) {
      if (ws.data.chat) ws.subscribe(topic);
    },
    message(ws, message) {
      if (!ws.data.chat) {
        // A string for a text message, a Buffer for a binary one: sent back the same kind.
        ws.send(message, deflate);
        return;
      }
      let text;
      try {
        text = JSON.parse(message.toString()).message;
      } catch {
        return;
      }
      // Every subscriber, the sender included; Bun frames the message once for all of them.
      server.publish(topic, JSON.stringify({ type: 'message', body: `Client ${ws.data.id}: ${text}` }), deflate);
    },
  },
});
console.error(`listening on ${tls ? 'https' : 'http'}://127.0.0.1:${server.port}`);
process.on('SIGTERM', () => process.exit(0));
