// The things under test: direct Redis, socat as the seed image runs it, a plain Node pipe relay,
// the ambassador with metrics on and off, and (issue #13) the ambassador's shared upstream mode
// beside the two proxies it is measured against: HAProxy in `mode tcp` (a byte relay in C) and
// twemproxy (nutcracker, which pipelines many clients onto one server connection, as the shared
// mode does). Each has a port, and (except direct) a process whose CPU time and RSS are read from
// /proc.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, run, sleep, start, stop, waitPong } from './procs.mjs';

const here = path.dirname(fileURLToPath(import.meta.url));
export const repoRoot = path.resolve(here, '..', '..');
export const relayPath = path.join(repoRoot, 'bench', 'relay.mjs');
// BENCH_CLI=/path/to/cli.js (or --cli) benchmarks another build, e.g. one made from a clean checkout.
export let cliPath = process.env.BENCH_CLI ? path.resolve(process.env.BENCH_CLI) : path.join(repoRoot, 'dist', 'cli.js');
export const setCliPath = (p) => { cliPath = path.resolve(p); };
// --base-cli PATH (or BENCH_BASE_CLI): a second build, e.g. of the commit before a change, run as
// target amb-base beside amb-on in the same interleaved run, for before/after ratios.
export let baseCliPath = process.env.BENCH_BASE_CLI ? path.resolve(process.env.BENCH_BASE_CLI) : null;
export const setBaseCliPath = (p) => { baseCliPath = path.resolve(p); };

export const TARGETS = [
  { id: 'direct', label: 'direct Redis' },
  { id: 'socat', label: 'socat fork (seed)' },
  { id: 'relay', label: 'Node pipe relay' },
  { id: 'amb-on', label: 'ambassador, metrics on' },
  { id: 'amb-off', label: 'ambassador, metrics off' },
  // Opt-in (--targets …,amb-w2): AMBASSADOR_WORKERS=2, the multi-process mode of issue #7.
  { id: 'amb-w2', label: 'ambassador, 2 workers', optional: true },
  // Opt-in with --base-cli: the other build, metrics on, for before/after comparisons.
  { id: 'amb-base', label: 'ambassador (base build), metrics on', optional: true },
  // Opt-in (--targets …,amb-tls): metrics on, the listener speaks TLS; redis-benchmark --tls --cacert.
  { id: 'amb-tls', label: 'ambassador, TLS listener', optional: true },
  // Opt-in: redis-server's own TLS port, the control for amb-tls (what TLS costs redis-benchmark and Redis).
  { id: 'direct-tls', label: 'direct Redis, TLS port', optional: true },
  // AMBASSADOR_UPSTREAM_MODE=shared with the build's default AMBASSADOR_SHARED_CONNECTIONS.
  { id: 'amb-shared', label: 'ambassador, shared upstream', shared: true },
  // Opt-in: shared mode with 1, 2 or 4 upstream connections (any amb-sharedN works), to choose the default.
  { id: 'amb-shared1', label: 'ambassador, shared ×1', shared: true, optional: true },
  { id: 'amb-shared2', label: 'ambassador, shared ×2', shared: true, optional: true },
  { id: 'amb-shared4', label: 'ambassador, shared ×4', shared: true, optional: true },
  // Opt-in, external binaries (Debian packages haproxy, nutcracker); skipped with a note when absent.
  { id: 'haproxy', label: 'HAProxy (tcp, 1 thread)', bin: 'haproxy', optional: true },
  { id: 'twemproxy', label: 'twemproxy (1 server conn)', bin: 'nutcracker', optional: true },
];
// socat is a default target but an external binary too.
TARGETS.find((t) => t.id === 'socat').bin = 'socat';

/** amb-shared → null (the build's default), amb-sharedN → N; undefined for other targets. */
export function sharedConnectionsOf(id) {
  const m = /^amb-shared(\d*)$/.exec(id);
  if (!m) return undefined;
  return m[1] ? Number(m[1]) : null;
}
export const isAmbassador = (id) => id.startsWith('amb');
export const targetLabel = (id) => TARGETS.find((t) => t.id === id)?.label
  ?? (sharedConnectionsOf(id) != null ? `ambassador, shared ×${sharedConnectionsOf(id)}` : id);

/** Full path of an executable on PATH (plus the sbin directories, where haproxy lives), or null. */
export function findBin(name) {
  const dirs = [...(process.env.PATH ?? '').split(':'), '/usr/local/sbin', '/usr/sbin', '/sbin'];
  for (const d of dirs) {
    if (!d) continue;
    const p = path.join(d, name);
    try { fs.accessSync(p, fs.constants.X_OK); return p; } catch { /* not here */ }
  }
  return null;
}
/** The external binary a target needs and does not find, or null. */
export function missingBin(id) {
  const bin = TARGETS.find((t) => t.id === id)?.bin;
  return bin && !findBin(bin) ? bin : null;
}

/**
 * HAProxy 2.6 as a plain TCP relay: one thread, no logging, no health checks, one server (the
 * test Redis). maxconn 4096 keeps its fd need (≈ 2 × maxconn) under the 16384 the harness sets.
 */
export function haproxyConfig(port, redisPort) {
  return [
    'global',
    '    nbthread 1',
    '    maxconn 4096',
    'defaults',
    '    mode tcp',
    '    timeout connect 5s',
    '    timeout client 1h',
    '    timeout server 1h',
    'frontend redis_in',
    `    bind 127.0.0.1:${port}`,
    '    default_backend redis_out',
    'backend redis_out',
    `    server redis 127.0.0.1:${redisPort}`,
    '',
  ].join('\n');
}

/**
 * twemproxy 0.5: one pool, one server, at most one connection to it (server_connections: 1, its
 * default, written out), opened at start (preconnect), never ejected (auto_eject_hosts: false, the
 * default); no timeout (the default: wait indefinitely); hash and distribution irrelevant with one
 * server. The stats port is bound to loopback on a port of ours (0.5 cannot turn it off).
 */
export function twemproxyConfig(port, redisPort) {
  return [
    'bench:',
    `  listen: 127.0.0.1:${port}`,
    '  redis: true',
    '  preconnect: true',
    '  auto_eject_hosts: false',
    '  server_connections: 1',
    '  servers:',
    `   - 127.0.0.1:${redisPort}:1`,
    '',
  ].join('\n');
}

let tlsFiles = null;
/** A CA and a server certificate for 127.0.0.1 (EC P-256, as a deployment would likely use), made once per run. */
async function tlsCertificates(logDir) {
  if (tlsFiles) return tlsFiles;
  const dir = path.join(logDir, 'tls');
  fs.mkdirSync(dir, { recursive: true });
  const f = (n) => path.join(dir, n);
  const ec = ['-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes'];
  const steps = [
    ['req', '-x509', ...ec, '-keyout', f('ca.key'), '-out', f('ca.crt'), '-days', '2', '-subj', '/CN=bench-ca', '-addext', 'basicConstraints=critical,CA:TRUE', '-addext', 'keyUsage=critical,keyCertSign'],
    ['req', ...ec, '-keyout', f('server.key'), '-out', f('server.csr'), '-subj', '/CN=bench-server'],
  ];
  for (const args of steps) {
    const r = await run('openssl', args, { timeoutMs: 20000 });
    if (r.code !== 0) throw new Error(`openssl ${args[0]} failed: ${r.stderr}`);
  }
  fs.writeFileSync(f('server.ext'), 'subjectAltName=IP:127.0.0.1\nextendedKeyUsage=serverAuth\n');
  const r = await run('openssl', ['x509', '-req', '-in', f('server.csr'), '-CA', f('ca.crt'), '-CAkey', f('ca.key'), '-set_serial', '1', '-days', '2', '-out', f('server.crt'), '-extfile', f('server.ext')], { timeoutMs: 20000 });
  if (r.code !== 0) throw new Error(`openssl x509 failed: ${r.stderr}`);
  tlsFiles = { ca: f('ca.crt'), cert: f('server.crt'), key: f('server.key') };
  return tlsFiles;
}

/** Like waitPong, through redis-cli --tls (the harness's own RESP client speaks plain TCP only). */
async function waitTlsPong(port, ca, timeoutMs, isAlive) {
  const deadline = Date.now() + timeoutMs;
  let last = '';
  while (Date.now() < deadline) {
    if (!isAlive()) throw new Error(`process exited before port ${port} answered`);
    const r = await run('redis-cli', ['--tls', '--cacert', ca, '-h', '127.0.0.1', '-p', String(port), 'PING'], { timeoutMs: 3000 });
    if (r.stdout.trim() === 'PONG') return;
    last = (r.stdout + r.stderr).trim();
    await sleep(100);
  }
  throw new Error(`port ${port} did not answer PING over TLS within ${timeoutMs} ms: ${last}`);
}

export const socatArgs = (port, redisPort, extra = '', upExtra = '') => [
  // The seed's command, plus bind=127.0.0.1 so nothing listens beyond loopback
  // (listen address only; no effect on the data path).
  `TCP4-LISTEN:${port},fork,reuseaddr,bind=127.0.0.1${extra}`,
  `TCP4:127.0.0.1:${redisPort}${upExtra}`,
];

/** Environment for the ambassador: the Docker-link contract variable, nothing inherited that could add listeners. */
export function ambassadorEnv(port, redisPort, { metrics = true, adminPort = null } = {}) {
  const env = {};
  for (const [k, v] of Object.entries(process.env)) {
    if (/_PORT_\d+_TCP/.test(k) || k.startsWith('AMBASSADOR_')) continue;
    env[k] = v;
  }
  env[`REDIS_PORT_${port}_TCP`] = `tcp://127.0.0.1:${redisPort}`;
  env.AMBASSADOR_BIND = '127.0.0.1';
  env.AMBASSADOR_METRICS = metrics ? 'on' : 'off';
  env.AMBASSADOR_ADMIN_ADDR = adminPort ? `127.0.0.1:${adminPort}` : 'off';
  return env;
}

export const ambassadorAvailable = () => fs.existsSync(cliPath);

/** Start one target; returns {id, label, port, proc, pid, withChildren, adminPort?, cmdline}. */
export async function startTarget(id, redis, logDir, { nodeArgs = [], envExtra = {} } = {}) {
  const label = targetLabel(id);
  if (id === 'direct') {
    return { id, label, port: redis.port, proc: null, pid: redis.pid, withChildren: false, cmdline: `redis-server on ${redis.port}` };
  }
  if (id === 'direct-tls') {
    if (!redis.tlsPort) throw new Error('target direct-tls needs startRedis(logDir, { tls: true })');
    const t = await tlsCertificates(logDir);
    return { id, label, port: redis.tlsPort, proc: null, pid: redis.pid, withChildren: false, rbExtra: ['--tls', '--cacert', t.ca], cmdline: `redis-server --tls-port ${redis.tlsPort}` };
  }
  const port = await freePort();
  let proc;
  let cmdline;
  let adminPort = null;
  let withChildren = false;
  let rbExtra = [];
  if (id === 'socat') {
    const args = socatArgs(port, redis.port);
    proc = start(`socat-${port}`, 'socat', args, { logDir });
    cmdline = `socat ${args.join(' ')}`;
    withChildren = true;
  } else if (id === 'relay') {
    const args = [...nodeArgs, relayPath, String(port), String(redis.port)];
    proc = start(`relay-${port}`, process.execPath, args, { logDir });
    cmdline = `node ${path.relative(repoRoot, relayPath)} ${port} ${redis.port}`;
  } else if (id === 'haproxy') {
    const cfg = path.join(logDir, `haproxy-${port}.cfg`);
    fs.writeFileSync(cfg, haproxyConfig(port, redis.port));
    // -db: foreground, no master process; the pid is the one process that relays.
    proc = start(`haproxy-${port}`, findBin('haproxy'), ['-db', '-f', cfg], { logDir });
    cmdline = `haproxy -db -f ${path.basename(cfg)}  # ${haproxyConfig(port, redis.port).trim().split('\n').map((l) => l.trim()).join('; ')}`;
    withChildren = true; // none expected; counted if there are any
  } else if (id === 'twemproxy') {
    const cfg = path.join(logDir, `twemproxy-${port}.yml`);
    fs.writeFileSync(cfg, twemproxyConfig(port, redis.port));
    const statsPort = await freePort();
    const args = ['-c', cfg, '-a', '127.0.0.1', '-s', String(statsPort)];
    proc = start(`twemproxy-${port}`, findBin('nutcracker'), args, { logDir });
    cmdline = `nutcracker ${args.join(' ').replace(cfg, path.basename(cfg))}  # ${twemproxyConfig(port, redis.port).trim().split('\n').map((l) => l.trim()).join(' ')}`;
    withChildren = true;
  } else if (id === 'amb-on' || id === 'amb-off' || id === 'amb-w2' || id === 'amb-base' || id === 'amb-tls' || sharedConnectionsOf(id) !== undefined) {
    const metrics = id !== 'amb-off';
    if (id === 'amb-tls') {
      const t = await tlsCertificates(logDir);
      envExtra = { ...envExtra, AMBASSADOR_TLS_LISTEN_CERT_FILE: t.cert, AMBASSADOR_TLS_LISTEN_KEY_FILE: t.key };
      rbExtra = ['--tls', '--cacert', t.ca];
    }
    const entry = id === 'amb-base' ? baseCliPath : cliPath;
    if (entry === null) throw new Error('target amb-base needs --base-cli PATH (or BENCH_BASE_CLI)');
    const prefix = [];
    if (id === 'amb-w2') {
      envExtra = { ...envExtra, AMBASSADOR_WORKERS: '2' };
      withChildren = true; // the workers carry the traffic: count their CPU and memory too
    }
    const shared = sharedConnectionsOf(id);
    if (shared !== undefined) {
      envExtra = { AMBASSADOR_UPSTREAM_MODE: 'shared', ...(shared != null ? { AMBASSADOR_SHARED_CONNECTIONS: String(shared) } : {}), ...envExtra };
    }
    for (const [k, v] of Object.entries(envExtra)) prefix.push(`${k}=${v} `);
    if (metrics) adminPort = await freePort();
    const env = { ...ambassadorEnv(port, redis.port, { metrics, adminPort }), ...envExtra };
    proc = start(`${id}-${port}`, process.execPath, [...nodeArgs, entry], { env, logDir });
    cmdline = `${prefix.join('')}REDIS_PORT_${port}_TCP=tcp://127.0.0.1:${redis.port} AMBASSADOR_BIND=127.0.0.1 ` +
      `AMBASSADOR_METRICS=${metrics ? 'on' : 'off'} AMBASSADOR_ADMIN_ADDR=${adminPort ? `127.0.0.1:${adminPort}` : 'off'} node ${nodeArgs.join(' ')}${nodeArgs.length ? ' ' : ''}${path.relative(repoRoot, entry)}`;
  } else {
    throw new Error(`unknown target ${id}`);
  }
  const t = { id, label, port, proc, pid: proc.pid, withChildren, adminPort, cmdline, rbExtra, sharedConnections: sharedConnectionsOf(id) };
  try {
    if (rbExtra.length) await waitTlsPong(port, rbExtra[2], 15000, () => !proc.exited);
    else await waitPong(port, 15000, () => !proc.exited);
  } catch (e) {
    await stop(proc, 500);
    let log = '';
    try { log = fs.readFileSync(path.join(logDir, `${proc.name}.log`), 'utf8').slice(-2000); } catch { /* none */ }
    throw new Error(`${id} did not come up: ${e.message}\n${log}`);
  }
  return t;
}

export async function stopTarget(t, graceMs = 8000) {
  if (!t?.proc) return null;
  return stop(t.proc, graceMs);
}

/** `tls`: also listen on a TLS port (no client certificates), for target direct-tls. */
export async function startRedis(logDir, { tls = false } = {}) {
  const port = await freePort();
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--protected-mode', 'no', '--daemonize', 'no', '--dir', logDir, '--maxclients', '10000',
  ];
  let tlsPort = null;
  if (tls) {
    const t = await tlsCertificates(logDir);
    tlsPort = await freePort();
    args.push('--tls-port', String(tlsPort), '--tls-cert-file', t.cert, '--tls-key-file', t.key, '--tls-ca-cert-file', t.ca, '--tls-auth-clients', 'no');
  }
  const proc = start(`redis-${port}`, 'redis-server', args, { logDir });
  await waitPong(port, 10000, () => !proc.exited);
  return { port, tlsPort, proc, pid: proc.pid };
}
