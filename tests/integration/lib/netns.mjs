// A throwaway network topology in Linux network namespaces, so that a test can cut one server
// off from Redis without any FIN or RST reaching it, then heal the cut. Needs root and `ip`
// (iproute2); no netem, no iptables.
//
//   root namespace --veth a-- R (Redis) --veth b-- N (the node to partition)
//         |                                           |
//         +------------------veth c-------------------+
//
//   a: root 10.X.1.1/30  <->  R 10.X.1.2/30    servers in the root namespace reach Redis here
//   b: N    10.X.2.1/30  <->  R 10.X.2.2/30    the node in N reaches Redis here; the one we cut
//   c: root 10.X.3.1/30  <->  N 10.X.3.2/30    clients in the root namespace reach the node here
//
// X is a second octet in 200-250 that no address or route on the machine uses. Neither R nor
// N has a default route, so their processes can only reach the addresses above (or their own
// loopback). The root namespace does have one, so the topology also adds `unreachable
// 10.X.0.0/16` there (metric = our pid, which tells cleanupStale whose it is): a test that
// dials, say, 10.X.2.2 from the root namespace gets EHOSTUNREACH instead of sending it out.
//
// API:
//   netnsAvailable()            true when running as root and namespaces can be made
//   cleanupStale()              deletes namespaces, links and guard routes left by crashed runs
//                               (whose creating process is gone)
//   await createTopology()      -> topo:
//     topo.tag, topo.octet        `hbk<pid>-<n>` (prefix of every name it made) and X
//     topo.redisAddressFromRoot   '10.X.1.2'
//     topo.redisAddressFromNode   '10.X.2.2'
//     topo.nodeAddressFromRoot    '10.X.3.2'
//     topo.namespaces             { redis, node }: the namespace names, for `ip -n`
//     topo.spawnInRedisNs(cmd, args, opts), topo.spawnInNodeNs(cmd, args, opts)
//                                 child_process.spawn inside R / N; the ChildProcess's pid is
//                                 the command itself (`ip netns exec` execs into it), and the
//                                 command gets SIGKILL if this process dies without cleaning up
//                                 (setpriv --pdeathsig, when util-linux has it)
//     await topo.cutNodeFromRedis()  link b goes silent: packets between N and R vanish
//     await topo.healNodeToRedis()   link b works again
//     await topo.destroy()           SIGKILLs what it spawned, deletes links and namespaces;
//                                    idempotent, for `after()` / finally
//
// How the cut is made, and why (as measured on Linux 6.18):
// - Only R's end of b goes down. Taking N's end down instead removes N's connected route, so
//   new connects from N fail at once with ENETUNREACH, and an established socket that sends
//   during the cut has its path MTU dropped to 68 (its route now points at the kernel's
//   blackhole device) and keeps a 36-byte MSS after the heal.
// - With R's end down N's end only loses its carrier: its address and route stay and its
//   packets are dropped in its own stack, never reaching R. But N would then try ARP for
//   10.X.2.2, fail after ~3 s, and report EHOSTUNREACH: new connects fail with it and
//   established sockets record it as a soft error. So N gets a permanent neighbour entry for
//   R's end at creation time: no ARP ever, and during the cut a connect from N just times out
//   and an established connection just gets no answers, as with a pulled cable.
import { execFile, spawn, spawnSync } from 'node:child_process';
import { randomInt } from 'node:crypto';
import { promisify } from 'node:util';

const run = promisify(execFile);
const IP_TIMEOUT = 10_000;
const KILL_WAIT = 5000;
const LINK_UP_WAIT = 3000;
const PREFIX = 'hbk';
// Namespaces are `hbk<pid>-<n>-r` / `-n`; links are `hbk<pid>-<n>` + link + end, where the end
// letter names where it lives: h (root namespace), r (R) or n (N).
const NETNS_RE = /^hbk(\d+)-[0-9a-z]+-[rn]$/;
const LINK_RE = /^hbk(\d+)-[0-9a-z]+[abc][hrn]$/;
const GUARD_RE = /^10\.(2[0-4]\d|250)\.0\.0\/16$/;
const IFNAMSIZ = 15;
const PID = String(process.pid);

let counter = 0;
let available;
let setpriv;

async function ip(...args) {
  try {
    const { stdout } = await run('ip', args, { timeout: IP_TIMEOUT });
    return stdout;
  } catch (err) {
    throw new Error(`ip ${args.join(' ')} failed: ${(err.stderr || err.message).trim()}`);
  }
}

/** `ip` that ignores failure (for teardown: the thing may already be gone). */
async function ipQuiet(...args) {
  try {
    await run('ip', args, { timeout: IP_TIMEOUT });
    return true;
  } catch {
    return false;
  }
}

async function ipJson(...args) {
  return JSON.parse((await ip('-j', ...args)) || '[]');
}

function ipSync(...args) {
  return spawnSync('ip', args, { encoding: 'utf8', timeout: IP_TIMEOUT });
}

function alive(pid) {
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return err.code === 'EPERM';
  }
}

function netnsNames() {
  const r = ipSync('netns', 'list');
  if (r.status !== 0) return [];
  // Lines read `name` or `name (id: 3)`.
  return r.stdout.split('\n').map((l) => l.split(' ')[0]).filter(Boolean);
}

/** True when running as root and a namespace can actually be made (not just listed). */
export function netnsAvailable() {
  if (available !== undefined) return available;
  available = false;
  if (process.getuid?.() !== 0) return available;
  if (ipSync('netns', 'list').status !== 0) return available;
  // Root in an unprivileged container can list but not add; try it.
  const probe = `${PREFIX}${process.pid}-probe-n`;
  available = ipSync('netns', 'add', probe).status === 0;
  ipSync('netns', 'del', probe);
  return available;
}

/**
 * Deletes this helper's namespaces, root-namespace links and guard routes whose creating
 * process is gone. Processes still running inside such a namespace are left alone (the
 * namespace then lives on, nameless, until they exit). Returns { namespaces, links, routes }:
 * what it removed.
 */
export function cleanupStale() {
  const removed = { namespaces: [], links: [], routes: [] };
  for (const name of netnsNames()) {
    const m = NETNS_RE.exec(name);
    if (!m || alive(Number(m[1]))) continue;
    if (ipSync('netns', 'del', name).status === 0) removed.namespaces.push(name);
  }
  const routes = ipSync('-j', '-4', 'route', 'show', 'type', 'unreachable');
  for (const { dst, metric } of routes.status === 0 ? JSON.parse(routes.stdout || '[]') : []) {
    if (!GUARD_RE.test(dst ?? '') || !(metric > 1) || alive(metric)) continue;
    if (ipSync('route', 'del', 'unreachable', dst, 'metric', String(metric)).status === 0) {
      removed.routes.push(`unreachable ${dst} metric ${metric}`);
    }
  }
  const r = ipSync('-j', 'link', 'show');
  const links = r.status === 0 ? JSON.parse(r.stdout || '[]') : [];
  for (const { ifname } of links) {
    const m = LINK_RE.exec(ifname ?? '');
    if (!m || alive(Number(m[1]))) continue;
    if (ipSync('link', 'del', ifname).status === 0) removed.links.push(ifname);
  }
  return removed;
}

// Second octets X of every 10.X.* address, route destination or gateway in the root namespace.
async function usedOctets(excludeDevs = new Set()) {
  const used = new Set();
  const note = (addr) => {
    const m = /^10\.(\d+)\./.exec(addr ?? '');
    if (m) used.add(Number(m[1]));
  };
  for (const link of await ipJson('-4', 'addr', 'show')) {
    if (excludeDevs.has(link.ifname)) continue;
    for (const a of link.addr_info ?? []) note(a.local);
  }
  for (const route of await ipJson('-4', 'route', 'show', 'table', 'all')) {
    if (excludeDevs.has(route.dev)) continue;
    note(route.dst);
    note(route.gateway);
  }
  return used;
}

// Wraps the command so that it dies with us if we die without destroy() (a crashed or killed
// test runner): setpriv sets the parent-death signal and execs, so the pid stays the command's.
function deathSigPrefix() {
  if (setpriv === undefined) {
    setpriv = spawnSync('setpriv', ['--help'], { encoding: 'utf8' }).stdout?.includes('--pdeathsig')
      ? ['setpriv', '--pdeathsig', 'KILL', '--'] : [];
  }
  return setpriv;
}

/** Builds the topology (see the header). Throws if it cannot; leaves nothing behind then. */
export async function createTopology() {
  const tag = `${PREFIX}${process.pid}-${(counter++).toString(36)}`;
  const ns = { redis: `${tag}-r`, node: `${tag}-n` };
  const dev = {
    ah: `${tag}ah`, ar: `${tag}ar`,
    bn: `${tag}bn`, br: `${tag}br`,
    ch: `${tag}ch`, cn: `${tag}cn`,
  };
  if (dev.ah.length > IFNAMSIZ) throw new Error(`interface name ${dev.ah} is too long`);
  const rootDevs = new Set([dev.ah, dev.ch]);
  const children = new Set();
  let destroying = null;
  let octet = 0;
  let guarded = false;

  const spawnIn = (name, cmd, args = [], opts = {}) => {
    if (destroying) throw new Error('topology destroyed');
    const child = spawn('ip', ['netns', 'exec', name, ...deathSigPrefix(), cmd, ...args], opts);
    children.add(child);
    child.once('exit', () => children.delete(child));
    // A failed spawn of `ip` itself emits 'error' and no 'exit'.
    child.once('error', () => children.delete(child));
    return child;
  };

  const destroy = () => {
    destroying ??= (async () => {
      const exits = [];
      for (const child of children) {
        if (child.exitCode !== null || child.signalCode !== null) continue;
        exits.push(new Promise((res) => {
          child.once('exit', res);
          child.once('error', res);
        }));
        child.kill('SIGKILL');
      }
      // Until they are gone they pin the namespaces (and so the links) after `netns del`.
      let timer;
      await Promise.race([Promise.all(exits),
        new Promise((res) => { timer = setTimeout(res, KILL_WAIT); })]);
      clearTimeout(timer);
      if (guarded) await ipQuiet('route', 'del', 'unreachable', guard(), 'metric', PID);
      guarded = false;
      // Deleting either end of a veth deletes the pair; do it explicitly so the root
      // namespace is clean when we return, not when the kernel gets round to the namespaces.
      await ipQuiet('link', 'del', dev.ah);
      await ipQuiet('link', 'del', dev.ch);
      await ipQuiet('-n', ns.node, 'link', 'del', dev.bn);
      await ipQuiet('netns', 'del', ns.redis);
      await ipQuiet('netns', 'del', ns.node);
      const left = [...netnsNames().filter((n) => n === ns.redis || n === ns.node),
        ...[...rootDevs].filter((d) => ipSync('link', 'show', d).status === 0)];
      if (left.length) throw new Error(`netns ${tag}: could not delete ${left.join(', ')}`);
    })();
    return destroying;
  };

  const addr = (link, host) => `10.${octet}.${link}.${host}`;
  const guard = () => `10.${octet}.0.0/16`;

  const build = async () => {
    const used = await usedOctets();
    const free = [];
    for (let x = 200; x <= 250; x++) if (!used.has(x)) free.push(x);
    if (!free.length) throw new Error('no free 10.X.0.0/16 with X in 200-250');
    octet = free[randomInt(free.length)];

    await ip('netns', 'add', ns.redis);
    await ip('netns', 'add', ns.node);
    await ip('link', 'add', dev.ah, 'type', 'veth', 'peer', 'name', dev.ar, 'netns', ns.redis);
    await ip('-n', ns.node, 'link', 'add', dev.bn, 'type', 'veth',
      'peer', 'name', dev.br, 'netns', ns.redis);
    await ip('link', 'add', dev.ch, 'type', 'veth', 'peer', 'name', dev.cn, 'netns', ns.node);
    await ip('addr', 'add', `${addr(1, 1)}/30`, 'dev', dev.ah);
    await ip('-n', ns.redis, 'addr', 'add', `${addr(1, 2)}/30`, 'dev', dev.ar);
    await ip('-n', ns.node, 'addr', 'add', `${addr(2, 1)}/30`, 'dev', dev.bn);
    await ip('-n', ns.redis, 'addr', 'add', `${addr(2, 2)}/30`, 'dev', dev.br);
    await ip('addr', 'add', `${addr(3, 1)}/30`, 'dev', dev.ch);
    await ip('-n', ns.node, 'addr', 'add', `${addr(3, 2)}/30`, 'dev', dev.cn);
    // No ARP on b from N's side, ever: see the header for why the cut needs this.
    const [{ address: brMac }] = await ipJson('-n', ns.redis, 'link', 'show', 'dev', dev.br);
    await ip('-n', ns.node, 'neigh', 'replace', addr(2, 2), 'lladdr', brMac,
      'nud', 'permanent', 'dev', dev.bn);
    for (const name of [ns.redis, ns.node]) await ip('-n', name, 'link', 'set', 'lo', 'up');
    await ip('link', 'set', dev.ah, 'up');
    await ip('link', 'set', dev.ch, 'up');
    await ip('-n', ns.redis, 'link', 'set', dev.ar, 'up');
    await ip('-n', ns.redis, 'link', 'set', dev.br, 'up');
    await ip('-n', ns.node, 'link', 'set', dev.bn, 'up');
    await ip('-n', ns.node, 'link', 'set', dev.cn, 'up');
    await waitCarrier([[null, dev.ah], [null, dev.ch], [ns.node, dev.bn], [ns.redis, dev.br]]);
    // Another run may have picked the same X between our look and our claim: both see it now.
    if ((await usedOctets(rootDevs)).has(octet)) return false;
    await ip('route', 'add', 'unreachable', guard(), 'metric', PID);
    guarded = true;
    return true;
  };

  try {
    let claimed = false;
    for (let attempt = 0; attempt < 5 && !claimed; attempt++) {
      if (attempt > 0) {
        await destroy();
        destroying = null;
      }
      claimed = await build();
    }
    if (!claimed) throw new Error('could not claim a free 10.X.0.0/16 for the netns topology');
  } catch (err) {
    await destroy().catch(() => {});
    throw err;
  }

  return {
    tag,
    octet,
    namespaces: ns,
    redisAddressFromRoot: addr(1, 2),
    redisAddressFromNode: addr(2, 2),
    nodeAddressFromRoot: addr(3, 2),
    spawnInRedisNs: (cmd, args, opts) => spawnIn(ns.redis, cmd, args, opts),
    spawnInNodeNs: (cmd, args, opts) => spawnIn(ns.node, cmd, args, opts),

    /** From now on packets on link b vanish, both ways, without any error in N. */
    async cutNodeFromRedis() {
      await ip('-n', ns.redis, 'link', 'set', dev.br, 'down');
    },

    /** Link b carries packets again; resolves once N's end has its carrier back. */
    async healNodeToRedis() {
      await ip('-n', ns.redis, 'link', 'set', dev.br, 'up');
      // The kernel keeps the addresses and restores the connected route on `up`; make sure,
      // as both are idempotent.
      await ip('-n', ns.redis, 'addr', 'replace', `${addr(2, 2)}/30`, 'dev', dev.br);
      await ip('-n', ns.redis, 'route', 'replace', `${addr(2, 0)}/30`, 'dev', dev.br,
        'proto', 'kernel', 'scope', 'link', 'src', addr(2, 2));
      await waitCarrier([[ns.node, dev.bn], [ns.redis, dev.br]]);
    },

    destroy,
  };
}

// Waits until each [namespace or null, device] reports operstate UP (carrier on both ends).
async function waitCarrier(devices) {
  const deadline = Date.now() + LINK_UP_WAIT;
  for (const [name, device] of devices) {
    for (;;) {
      const args = name ? ['-n', name] : [];
      const [link] = await ipJson(...args, 'link', 'show', 'dev', device);
      if (link?.operstate === 'UP') break;
      if (Date.now() > deadline) throw new Error(`${device} did not come up (${link?.operstate})`);
      await new Promise((r) => setTimeout(r, 20));
    }
  }
}
