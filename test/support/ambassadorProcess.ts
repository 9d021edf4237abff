/**
 * The built ambassador (dist/cli.js, as users run it) in a child process: its JSON log, its
 * admin endpoint (/metrics, /healthz, /readyz), and runs of the CLI to its exit. `npm test`
 * builds first, so dist/ is current.
 */
import type { ChildProcess } from 'node:child_process';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { sumMetric } from './metricsText.js';
import { freePort } from './freePort.js';
import { run, startChild, type RunResult } from './processes.js';
import { waitForPort } from './redisServer.js';
import { waitUntil } from './wait.js';

export const CLI = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '../../dist/cli.js');

export interface AmbassadorProcess {
  readonly process: ChildProcess;
  readonly adminPort: number;
  /** Every stdout line so far, parsed. */
  logs(): Record<string, unknown>[];
  /** stdout and stderr as they came. */
  output(): string;
  metrics(): Promise<string>;
  /** Sum of a metric's samples whose labels include all of `labels`. */
  metric(name: string, labels?: Record<string, string>): Promise<number>;
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

const ATTEMPTS = 3;

/** What startAmbassador runs: `waitHost` is where `waitPorts` are tried (127.0.0.1 unless told; the admin port always there). */
export interface AmbassadorStart {
  env?: Record<string, string>;
  args?: string[];
  waitPorts: number[];
  waitHost?: string;
}

/**
 * Starts the CLI with `env` (plus PATH, a free admin port and debug logs) and waits until
 * `waitPorts` and the admin port accept. Tried up to 3 times: a machine busy with other test
 * runs sometimes does not even start node in time (the output is empty then).
 */
export async function startAmbassador(opts: AmbassadorStart): Promise<AmbassadorProcess> {
  let last: Error | null = null;
  for (let attempt = 1; attempt <= ATTEMPTS; attempt++) {
    try {
      return await startOnce(opts);
    } catch (err) {
      last = err as Error;
      if (attempt < ATTEMPTS) console.log(`ambassador start attempt ${attempt} failed: ${last.message.split('\n')[0]}`);
    }
  }
  throw last!;
}

async function startOnce(opts: AmbassadorStart): Promise<AmbassadorProcess> {
  const adminPort = await freePort();
  const child = startChild(process.execPath, [CLI, ...(opts.args ?? [])], {
    PATH: process.env.PATH ?? '',
    AMBASSADOR_ADMIN_ADDR: `127.0.0.1:${adminPort}`,
    AMBASSADOR_LOG_LEVEL: 'debug',
    ...opts.env,
  });
  try {
    for (const p of opts.waitPorts) await waitForPort(p, 15_000, opts.waitHost);
    await waitForPort(adminPort, 15_000);
  } catch (e) {
    await child.stop('SIGKILL');
    throw new Error(`ambassador did not start: ${(e as Error).message}\noutput:\n${child.output()}`);
  }
  const metrics = async (): Promise<string> => (await adminRequest({ adminPort }, '/metrics')).body;
  return {
    process: child.process,
    adminPort,
    logs: () =>
      child
        .stdout()
        .split('\n')
        .filter((l) => l.startsWith('{'))
        .map((l) => JSON.parse(l) as Record<string, unknown>),
    output: child.output,
    metrics,
    metric: async (name, labels = {}) => sumMetric(await metrics(), name, labels),
    stop: (signal = 'SIGTERM') => child.stop(signal),
  };
}

/** Runs the built CLI with exactly `env` (plus PATH) and `args` to its exit; for config errors, --help, --version. */
export function runCli(args: string[], env: Record<string, string> = {}, timeoutMs = 15_000): Promise<RunResult> {
  return run(process.execPath, [CLI, ...args], { env: { PATH: process.env.PATH ?? '', ...env }, timeoutMs });
}

/** A log line as `event (error)`, for failure messages. */
export function eventLine(l: Record<string, unknown>): string {
  return `${String(l.event)}${l.error !== undefined ? ` (${String(l.error)})` : ''}`;
}

// --- the admin endpoint ---------------------------------------------------------------------

type Admin = Pick<AmbassadorProcess, 'adminPort'>;

/** A request to the admin endpoint: status, content type and body. */
export async function adminRequest(amb: Admin, path: string, init?: RequestInit): Promise<{ status: number; type: string | null; body: string }> {
  const res = await fetch(`http://127.0.0.1:${amb.adminPort}${path}`, init);
  return { status: res.status, type: res.headers.get('content-type'), body: await res.text() };
}

/** /healthz's status; 0 when the process does not answer within 5 s. */
export async function healthz(amb: Admin): Promise<number> {
  try {
    return (await adminRequest(amb, '/healthz', { signal: AbortSignal.timeout(5000) })).status;
  } catch {
    return 0;
  }
}

/** The JSON /readyz answers. */
export interface Readiness {
  ready: boolean;
  listeners: Record<string, { ready: boolean; master?: string | null; upstreams: { up: boolean; error?: string }[] }>;
}

/** /readyz: its status, its body as sent and as parsed. */
export async function readyz(amb: Admin): Promise<{ status: number; text: string; body: Readiness }> {
  const r = await adminRequest(amb, '/readyz');
  return { status: r.status, text: r.body, body: JSON.parse(r.body) as Readiness };
}

/** Whether /readyz says every listener is ready; false while the process does not answer. */
export async function isReady(amb: Admin): Promise<boolean> {
  try {
    return (await adminRequest(amb, '/readyz')).status === 200;
  } catch {
    return false;
  }
}

export async function waitReady(amb: Admin, timeoutMs = 15_000): Promise<void> {
  await waitUntil(() => isReady(amb), { timeoutMs, intervalMs: 50, what: 'ambassador /readyz 200' });
}
