/**
 * The built ambassador (dist/cli.js, as users run it) in a child process, with its JSON log
 * collected. `npm test` builds first, so dist/ is current.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { freePort } from './freePort.js';
import { waitForPort } from './redisServer.js';

export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli.js');

export interface AmbassadorProcess {
  readonly process: ChildProcess;
  readonly adminPort: number;
  /** Every stdout line so far, parsed. */
  logs(): Record<string, unknown>[];
  metrics(): Promise<string>;
  /** Sum of a metric's samples whose labels include all of `labels`. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

/** Starts the CLI with `env` (plus a free admin port) and waits until `waitPorts` accept. */
export async function startAmbassador(opts: { env?: Record<string, string>; args?: string[]; waitPorts: number[] }): Promise<AmbassadorProcess> {
  const adminPort = await freePort();
  const child = spawn(process.execPath, [CLI, ...(opts.args ?? [])], {
    env: { PATH: process.env.PATH ?? '', AMBASSADOR_ADMIN_ADDR: `127.0.0.1:${adminPort}`, AMBASSADOR_LOG_LEVEL: 'debug', ...opts.env },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()));
  try {
    for (const p of [...opts.waitPorts, adminPort]) await waitForPort(p, 15_000);
  } catch (e) {
    child.kill('SIGKILL');
    throw new Error(`ambassador did not start: ${(e as Error).message}\nstdout:\n${out}\nstderr:\n${err}`);
  }
  const metrics = async (): Promise<string> => {
    const res = await fetch(`http://127.0.0.1:${adminPort}/metrics`);
    return res.text();
  };
  return {
    process: child,
    adminPort,
    logs: () =>
      out
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    metrics,
    metric: async (name, labels = {}) => sumMetric(await metrics(), name, labels),
    stop: (signal = 'SIGTERM') =>
      new Promise((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill(signal);
      }),
  };
}

/** Sums the samples of `name` in Prometheus text whose labels include every pair in `labels`. */
export function sumMetric(text: string, name: string, labels: Record<string, string> = {}): number {
  let total = 0;
  for (const line of text.split('\n')) {
    if (line.startsWith('#')) continue;
    const m = /^([a-zA-Z_:][a-zA-Z0-9_:]*)(?:\{(.*)\})? (\S+)$/.exec(line);
    if (!m || m[1] !== name) continue;
    const have = new Map<string, string>();
    for (const pair of (m[2] ?? '').matchAll(/([a-zA-Z_][a-zA-Z0-9_]*)="((?:[^"\\]|\\.)*)"/g)) have.set(pair[1]!, pair[2]!);
    if (Object.entries(labels).every(([k, v]) => have.get(k) === v)) total += Number(m[3]);
  }
  return total;
}
