// WebSockets over HTTP/2 (RFC 8441) with Node's own http2 client: an extended CONNECT stream
// carrying RFC 6455 frames, masked from the client, parsed here from the server. The TLS server
// it talks to: tls_server.mjs.
import { randomBytes } from 'node:crypto';
import http2 from 'node:http2';
import { withTimeout } from './server.mjs';

/** An h2 session whose server has announced SETTINGS_ENABLE_CONNECT_PROTOCOL. */
export async function connectH2(port, ca, settings = {}, options = {}) {
  const session = http2.connect(`https://localhost:${port}`, { ca, settings, ...options });
  session.on('error', () => {});  // each test asserts what it expects
  await withTimeout(new Promise((res, rej) => {
    session.once('remoteSettings', res);
    session.once('error', rej);
  }), 5000, 'the server SETTINGS');
  if (!session.remoteSettings.enableConnectProtocol) {
    session.destroy();
    throw new Error('the server did not announce SETTINGS_ENABLE_CONNECT_PROTOCOL');
  }
  return session;
}

/** A plain request on an h2 session: { status, headers, body (Buffer) }. */
export function h2Get(session, path, method = 'GET') {
  return withTimeout(new Promise((res, rej) => {
    const req = session.request({ ':method': method, ':path': path });
    const chunks = [];
    let headers;
    req.on('response', (h) => { headers = h; });
    req.on('data', (c) => chunks.push(c));
    req.on('end', () => res({ status: headers[':status'], headers, body: Buffer.concat(chunks) }));
    req.on('error', rej);
    req.end();
  }), 5000, `h2 ${method} ${path}`);
}

/** A client frame: masked unless told otherwise; `rsv` is the three RSV bits (0-7). */
export function frame(opcode, payload, { fin = true, rsv1 = false, rsv = 0, masked = true } = {}) {
  const len = payload.length;
  const maskBit = masked ? 0x80 : 0;
  const head = [(fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | ((rsv & 7) << 4) | opcode];
  if (len < 126) head.push(maskBit | len);
  else if (len < 65536) head.push(maskBit | 126, len >> 8, len & 0xff);
  else {
    head.push(maskBit | 127, 0, 0, 0, 0);
    head.push((len >>> 24) & 0xff, (len >>> 16) & 0xff, (len >>> 8) & 0xff, len & 0xff);
  }
  if (!masked) return Buffer.concat([Buffer.from(head), payload]);
  const mask = randomBytes(4);
  const out = Buffer.alloc(len);
  for (let i = 0; i < len; ++i) out[i] = payload[i] ^ mask[i & 3];
  return Buffer.concat([Buffer.from(head), mask, out]);
}

/**
 * Opens a WebSocket on `session` by extended CONNECT. Resolves with
 * { stream, status, headers, send, sendFrame, next, close, closed } once the response HEADERS
 * arrive (any status: check `status`). `closed` resolves { code, reason, how } when the server
 * closes (how: 'close-frame', 'end', 'reset').
 */
export function openWebSocket(session, path = '/', headers = {}, { pseudo = {} } = {}) {
  const request = {
    ':method': 'CONNECT', ':protocol': 'websocket', ':scheme': 'https', ':path': path,
    'sec-websocket-version': '13', ...pseudo, ...headers,
  };
  for (const [k, v] of Object.entries(request)) if (v === undefined) delete request[k];
  const stream = session.request(request, { endStream: false });
  let buffer = Buffer.alloc(0);
  const inbox = [];
  const waiters = [];
  const pongs = [];
  const pongWaiters = [];
  let fragments = [];
  let fragmentOpcode = 0;
  let closeInfo = null;
  let closeSent = false;
  let resolveClosed;
  const closed = new Promise((res) => { resolveClosed = res; });
  const deliver = (m) => {
    const w = waiters.shift();
    if (w) w(m); else inbox.push(m);
  };
  const parse = () => {
    for (;;) {
      if (buffer.length < 2) return;
      const fin = (buffer[0] & 0x80) !== 0;
      const opcode = buffer[0] & 0x0f;
      let len = buffer[1] & 0x7f;
      let offset = 2;
      if (len === 126) {
        if (buffer.length < 4) return;
        len = buffer.readUInt16BE(2);
        offset = 4;
      } else if (len === 127) {
        if (buffer.length < 10) return;
        len = Number(buffer.readBigUInt64BE(2));
        offset = 10;
      }
      if (buffer.length < offset + len) return;
      const payload = buffer.subarray(offset, offset + len);
      buffer = buffer.subarray(offset + len);
      if (opcode === 0x8) {
        closeInfo = {
          code: payload.length >= 2 ? payload.readUInt16BE(0) : 1005,
          reason: payload.subarray(2).toString(),
          how: 'close-frame',
        };
        // RFC 6455 §5.5.1: answer the server's close with ours (unless we started it).
        if (!closeSent && !stream.destroyed && !stream.writableEnded) {
          closeSent = true;
          stream.write(frame(0x8, payload.subarray(0, 2)));
        }
        continue;
      }
      if (opcode === 0x9) {
        if (!stream.destroyed && !stream.writableEnded) stream.write(frame(0xA, payload));
        continue;
      }
      if (opcode === 0xA) {
        const w = pongWaiters.shift();
        if (w) w(Buffer.from(payload)); else pongs.push(Buffer.from(payload));
        continue;
      }
      if (opcode !== 0) {
        fragments = [];
        fragmentOpcode = opcode;
      }
      fragments.push(Buffer.from(payload));
      if (fin) {
        const data = Buffer.concat(fragments);
        fragments = [];
        deliver({ data, isBinary: fragmentOpcode === 0x2, text: data.toString() });
      }
    }
  };
  stream.on('data', (chunk) => {
    buffer = Buffer.concat([buffer, chunk]);
    parse();
  });
  stream.on('end', () => {
    resolveClosed(closeInfo ?? { code: 1006, reason: '', how: 'end' });
    // Our side of the close: after the server's END_STREAM, the client ends too.
    if (!stream.writableEnded) stream.end();
  });
  stream.on('close', () => {
    resolveClosed(closeInfo ?? { code: 1006, reason: '', how: 'reset', rstCode: stream.rstCode });
  });
  stream.on('error', () => {});
  const ws = {
    stream,
    closed,
    send(data, { binary = false, fragmentSize = 0 } = {}) {
      const payload = Buffer.isBuffer(data) ? data : Buffer.from(data);
      const opcode = binary ? 0x2 : 0x1;
      if (!fragmentSize || payload.length <= fragmentSize) {
        stream.write(frame(opcode, payload));
        return;
      }
      for (let at = 0; at < payload.length; at += fragmentSize) {
        const chunk = payload.subarray(at, at + fragmentSize);
        stream.write(frame(at === 0 ? opcode : 0, chunk,
          { fin: at + fragmentSize >= payload.length }));
      }
    },
    sendFrame(opcode, payload, options) { stream.write(frame(opcode, payload, options)); },
    sendRaw(bytes) { stream.write(bytes); },
    next(ms = 5000) {
      if (inbox.length) return Promise.resolve(inbox.shift());
      let waiter;
      const got = new Promise((res) => { waiter = res; waiters.push(res); });
      // A waiter that timed out must not swallow the next message.
      return withTimeout(got, ms, 'a message over the h2 WebSocket').catch((error) => {
        const at = waiters.indexOf(waiter);
        if (at >= 0) waiters.splice(at, 1);
        throw error;
      });
    },
    nextPong(ms = 5000) {
      return withTimeout(pongs.length ? Promise.resolve(pongs.shift())
        : new Promise((res) => pongWaiters.push(res)), ms, 'a pong over the h2 WebSocket');
    },
    close(code = 1000, reason = '') {
      closeSent = true;
      const payload = Buffer.alloc(2 + Buffer.byteLength(reason));
      payload.writeUInt16BE(code, 0);
      payload.write(reason, 2);
      stream.write(frame(0x8, payload));
    },
  };
  return withTimeout(new Promise((res, rej) => {
    stream.once('response', (h) => res({ ...ws, status: h[':status'], headers: h }));
    stream.once('error', rej);
    stream.once('close', () => rej(new Error(`stream closed before a response (rst ${stream.rstCode})`)));
  }), 5000, 'the CONNECT response');
}
