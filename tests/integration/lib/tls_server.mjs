// hibiki with TLS for the black-box tests: a throwaway certificate made with the openssl command,
// a server started on it on an OS-chosen port, and its stop, which must be clean.
import { execFileSync, spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { HOST, hibikiBin, withTimeout } from './server.mjs';

export function makeCertificate(dir, name = 'localhost') {
  const cert = join(dir, `${name}-cert.pem`);
  const key = join(dir, `${name}-key.pem`);
  execFileSync('openssl', ['req', '-x509', '-newkey', 'ec', '-pkeyopt',
    'ec_paramgen_curve:prime256v1', '-days', '1', '-nodes', '-subj', `/CN=${name}`,
    '-addext', `subjectAltName=DNS:localhost,IP:${HOST}`, '-keyout', key, '-out', cert],
  { stdio: 'ignore' });
  return { cert, key, pem: readFileSync(cert) };
}

/** hibiki `mode` with TLS on a free port; resolves once it listens. */
export async function startTlsServer(mode, { cert, key }, extra = []) {
  // The chat keeps its history in memory here, never in the checkout's data/ folder.
  const history = mode === 'chat' ? ['--db', ':memory:'] : [];
  const child = spawn(hibikiBin(), [mode, '--host', HOST, '--port', '0', '--tls-cert', cert,
    '--tls-key', key, ...history, ...extra], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  const port = await withTimeout(new Promise((res, rej) => {
    child.stderr.setEncoding('utf8').on('data', (d) => {
      stderr += d;
      const m = /listening on https:\/\/[^:]+:(\d+)/.exec(stderr);
      if (m) res(Number(m[1]));
    });
    child.once('exit', (code) => rej(new Error(`hibiki exited (${code}): ${stderr}`)));
  }), 10_000, 'hibiki to listen');
  const exited = new Promise((res) => child.once('exit', (code, signal) => res({ code, signal })));
  return { child, port, exited, log: () => stderr };
}

/** SIGTERM, then the exit, which must be clean (a sanitizer's report would make it not). */
export async function stopServer(server) {
  if (!server) return null;
  if (server.child.exitCode === null && server.child.signalCode === null) {
    server.child.kill('SIGTERM');
  }
  const exit = await withTimeout(server.exited, 10_000, 'hibiki to exit');
  if (exit.code !== 0) {
    throw new Error(`hibiki exited with ${exit.code ?? exit.signal}:\n${server.log().slice(-4000)}`);
  }
  return exit;
}
