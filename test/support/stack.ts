/** A redis-server with the ambassador in front of it, both registered for cleanup. */
import { startAmbassador, type AmbassadorProcess } from './ambassadorProcess.js';
import { freePort } from './freePort.js';
import { RawClient } from './rawClient.js';
import { cmd, plain, type RespValue } from './resp.js';
import { startRedis, type RedisServer } from './redisServer.js';
import type { Cleanup } from './processes.js';
import { waitUntil } from './wait.js';

export interface Stack {
  redis: RedisServer;
  amb: AmbassadorProcess;
  /** The ambassador's listening port. */
  port: number;
  /** The listener's name, as in the metrics' `listener` label. */
  listener: string;
}

export async function startStack(
  cleanup: Cleanup,
  opts: { redisArgs?: string[]; env?: Record<string, string>; redis?: RedisServer } = {},
): Promise<Stack> {
  const redis = opts.redis ?? cleanup.add(await startRedis(opts.redisArgs ?? []), (r) => r.stop('SIGKILL'));
  const port = await freePort();
  const amb = cleanup.add(
    await startAmbassador({ env: { [`REDIS_PORT_${port}_TCP`]: redis.url, ...opts.env }, waitPorts: [port] }),
    (a) => a.stop('SIGKILL'),
  );
  return { redis, amb, port, listener: `redis:${port}` };
}

/** Sends one command on a new connection and returns its decoded reply. */
export async function command(port: number, ...args: (string | number | Buffer)[]): Promise<RespValue> {
  const c = await RawClient.connect(port);
  try {
    await c.write(cmd(...args));
    return (await c.waitForReplies(1))[0]!;
  } finally {
    c.close();
  }
}

/** Same as command(), decoded to plain JS values. */
export async function call(port: number, ...args: (string | number | Buffer)[]): Promise<unknown> {
  return plain(await command(port, ...args));
}

/** Waits until redis-server reports `n` clients blocked (BLPOP and friends) on it. */
export async function waitBlockedClients(redisPort: number, n: number, timeoutMs = 10_000): Promise<void> {
  await waitUntil(
    async () => {
      const info = String(await call(redisPort, 'INFO', 'clients'));
      return new RegExp(`^blocked_clients:${n}\\r?$`, 'm').test(info);
    },
    { timeoutMs, what: `${n} blocked clients on redis ${redisPort}` },
  );
}
