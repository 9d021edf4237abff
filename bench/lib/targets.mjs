// The things under test: direct Redis, socat as the seed image runs it, a plain Node pipe relay,
// and the ambassador with metrics on and off. Each has a port, and (except direct) a process
// whose CPU time and RSS are read from /proc.
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
];

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
  const label = TARGETS.find((t) => t.id === id)?.label ?? id;
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
  } else if (id === 'amb-on' || id === 'amb-off' || id === 'amb-w2' || id === 'amb-base' || id === 'amb-tls') {
    const metrics = id !== 'amb-off';
    if (id === 'amb-tls') {
      const t = await tlsCertificates(logDir);
      envExtra = { ...envExtra, AMBASSADOR_TLS_LISTEN_CERT_FILE: t.cert, AMBASSADOR_TLS_LISTEN_KEY_FILE: t.key };
      rbExtra = ['--tls', '--cacert', t.ca];
    }
    const entry = id === 'amb-base' ? baseCliPath : cliPath;
    if (entry === null) throw new Error('target amb-base needs --base-cli PATH (or BENCH_BASE_CLI)');
    if (id === 'amb-w2') {
      envExtra = { ...envExtra, AMBASSADOR_WORKERS: '2' };
      withChildren = true; // the workers carry the traffic: count their CPU and memory too
    }
    if (metrics) adminPort = await freePort();
    const env = { ...ambassadorEnv(port, redis.port, { metrics, adminPort }), ...envExtra };
    proc = start(`${id}-${port}`, process.execPath, [...nodeArgs, entry], { env, logDir });
    cmdline = `${id === 'amb-w2' ? 'AMBASSADOR_WORKERS=2 ' : ''}${id === 'amb-tls' ? 'AMBASSADOR_TLS_LISTEN_CERT_FILE=server.crt AMBASSADOR_TLS_LISTEN_KEY_FILE=server.key ' : ''}REDIS_PORT_${port}_TCP=tcp://127.0.0.1:${redis.port} AMBASSADOR_BIND=127.0.0.1 ` +
      `AMBASSADOR_METRICS=${metrics ? 'on' : 'off'} AMBASSADOR_ADMIN_ADDR=${adminPort ? `127.0.0.1:${adminPort}` : 'off'} node ${nodeArgs.join(' ')}${nodeArgs.length ? ' ' : ''}${path.relative(repoRoot, entry)}`;
  } else {
    throw new Error(`unknown target ${id}`);
  }
  const t = { id, label, port, proc, pid: proc.pid, withChildren, adminPort, cmdline, rbExtra };
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
