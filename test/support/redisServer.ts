/**
 * A real redis-server on a loopback port, for integration tests (and the unit tests' oracle),
 * and waiting for a port to accept, which every process starter does.
 */
import type { ChildProcess } from 'node:child_process';
import { freePort } from './freePort.js';
import { startChild, type Cleanup } from './processes.js';
import { connectError } from './rawClient.js';
import { waitUntil } from './wait.js';

export interface RedisServer {
  readonly port: number;
  readonly process: ChildProcess;
  /** The upstream URL for the ambassador's contract. */
  readonly url: string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

/** redis-server without persistence on a free port (or `port`); `extraArgs` come last, so they can override the defaults. */
export async function startRedis(extraArgs: string[] = [], port?: number): Promise<RedisServer> {
  const p = port ?? (await freePort());
  const child = startChild('redis-server', [
    '--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', ...extraArgs,
  ]);
  await waitForPort(p, 5000).catch(async (err: Error) => {
    await child.stop('SIGKILL');
    throw new Error(`redis-server on ${p} did not start: ${err.message}\n${child.output()}`);
  });
  return {
    port: p,
    process: child.process,
    url: `tcp://127.0.0.1:${p}`,
    stop: async (signal = 'SIGTERM') => {
      await child.stop(signal);
    },
  };
}

/** Stops `redis` with `signal` and starts a new one on the same port with `args` (which may differ), killed at teardown. */
export async function restartRedis(cleanup: Cleanup, redis: RedisServer, args: string[], signal: NodeJS.Signals): Promise<RedisServer> {
  await redis.stop(signal);
  return cleanup.track(await startRedis(args, redis.port));
}

/** Waits until something accepts connections on `port` (redis-server, the ambassador, a sentinel). */
export async function waitForPort(port: number, timeoutMs: number, host = '127.0.0.1'): Promise<void> {
  await waitUntil(async () => (await connectError(port, host)) === null, {
    timeoutMs,
    intervalMs: 25,
    what: `something listening on ${host}:${port}`,
  });
}
