// The things under test: direct Redis, socat as the seed image runs it, a plain Node pipe relay,
// and the ambassador with metrics on and off. Each has a port, and (except direct) a process
// whose CPU time and RSS are read from /proc.
import fs from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort, start, stop, waitPong } from './procs.mjs';

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
  // Opt-in (--targets …,amb-hotkeys): AMBASSADOR_HOTKEYS=on, the cost of counting every key.
  { id: 'amb-hotkeys', label: 'ambassador, hot keys on', optional: true },
  // Opt-in with --base-cli: the other build, metrics on, for before/after comparisons.
  { id: 'amb-base', label: 'ambassador (base build), metrics on', optional: true },
];

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
  const port = await freePort();
  let proc;
  let cmdline;
  let adminPort = null;
  let withChildren = false;
  if (id === 'socat') {
    const args = socatArgs(port, redis.port);
    proc = start(`socat-${port}`, 'socat', args, { logDir });
    cmdline = `socat ${args.join(' ')}`;
    withChildren = true;
  } else if (id === 'relay') {
    const args = [...nodeArgs, relayPath, String(port), String(redis.port)];
    proc = start(`relay-${port}`, process.execPath, args, { logDir });
    cmdline = `node ${path.relative(repoRoot, relayPath)} ${port} ${redis.port}`;
  } else if (id === 'amb-on' || id === 'amb-off' || id === 'amb-w2' || id === 'amb-base' || id === 'amb-hotkeys') {
    const metrics = id !== 'amb-off';
    const entry = id === 'amb-base' ? baseCliPath : cliPath;
    if (entry === null) throw new Error('target amb-base needs --base-cli PATH (or BENCH_BASE_CLI)');
    if (id === 'amb-w2') {
      envExtra = { ...envExtra, AMBASSADOR_WORKERS: '2' };
      withChildren = true; // the workers carry the traffic: count their CPU and memory too
    }
    if (id === 'amb-hotkeys') envExtra = { ...envExtra, AMBASSADOR_HOTKEYS: 'on' };
    if (metrics) adminPort = await freePort();
    const env = { ...ambassadorEnv(port, redis.port, { metrics, adminPort }), ...envExtra };
    proc = start(`${id}-${port}`, process.execPath, [...nodeArgs, entry], { env, logDir });
    cmdline = `${id === 'amb-w2' ? 'AMBASSADOR_WORKERS=2 ' : ''}${id === 'amb-hotkeys' ? 'AMBASSADOR_HOTKEYS=on ' : ''}REDIS_PORT_${port}_TCP=tcp://127.0.0.1:${redis.port} AMBASSADOR_BIND=127.0.0.1 ` +
      `AMBASSADOR_METRICS=${metrics ? 'on' : 'off'} AMBASSADOR_ADMIN_ADDR=${adminPort ? `127.0.0.1:${adminPort}` : 'off'} node ${nodeArgs.join(' ')}${nodeArgs.length ? ' ' : ''}${path.relative(repoRoot, entry)}`;
  } else {
    throw new Error(`unknown target ${id}`);
  }
  const t = { id, label, port, proc, pid: proc.pid, withChildren, adminPort, cmdline };
  try {
    await waitPong(port, 15000, () => !proc.exited);
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

export async function startRedis(logDir) {
  const port = await freePort();
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no',
    '--protected-mode', 'no', '--daemonize', 'no', '--dir', logDir, '--maxclients', '10000',
  ];
  const proc = start(`redis-${port}`, 'redis-server', args, { logDir });
  await waitPong(port, 10000, () => !proc.exited);
  return { port, proc, pid: proc.pid };
}
