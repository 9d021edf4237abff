/** Ambassadors in front of upstreams the way most tests want them, killed at teardown. */
import { startAmbassador, waitReady, type AmbassadorProcess } from './ambassadorProcess.js';
import { freePort } from './freePort.js';
import type { Cleanup } from './processes.js';
import { startRedis, type RedisServer } from './redisServer.js';

/** An upstream as a URL, or as a port on 127.0.0.1. */
export type Upstream = string | number;

interface PresetOptions {
  env?: Record<string, string>;
  /** Returned once /readyz is 200 (the health check reached every upstream). */
  ready?: boolean;
}

/**
 * One ambassador with a listener per upstream, REDIS_PORT_<port>_TCP=<upstream>, each on a free
 * port unless `ports` gives it one.
 */
export async function ambassadorForEach<L extends string>(
  cleanup: Cleanup,
  upstreams: Record<L, Upstream>,
  opts: PresetOptions & { ports?: Partial<Record<L, number>> } = {},
): Promise<{ amb: AmbassadorProcess; ports: Record<L, number> }> {
  const ports = {} as Record<L, number>;
  const vars: Record<string, string> = {};
  for (const [label, upstream] of Object.entries(upstreams) as [L, Upstream][]) {
    ports[label] = opts.ports?.[label] ?? (await freePort());
    vars[`REDIS_PORT_${ports[label]}_TCP`] = typeof upstream === 'number' ? `tcp://127.0.0.1:${upstream}` : upstream;
  }
  const amb = cleanup.track(await startAmbassador({ env: { ...vars, ...opts.env }, waitPorts: Object.values(ports) }));
  if (opts.ready) await waitReady(amb);
  return { amb, ports };
}

export interface Proxy {
  amb: AmbassadorProcess;
  /** The listening port. */
  port: number;
  /** The listener's name, as in the metrics' `listener` label. */
  listener: string;
}

/** The ambassador with one listener in front of `upstream`, on a free port unless `port` is given. */
export async function ambassadorFor(cleanup: Cleanup, upstream: Upstream, opts: PresetOptions & { port?: number } = {}): Promise<Proxy> {
  const { amb, ports } = await ambassadorForEach(cleanup, { redis: upstream }, { ...opts, ports: { redis: opts.port } });
  return { amb, port: ports.redis, listener: `redis:${ports.redis}` };
}

export interface Stack extends Proxy {
  redis: RedisServer;
}

/** A redis-server (a fresh one unless `redis` is given) with the ambassador in front of it. */
export async function startStack(
  cleanup: Cleanup,
  opts: PresetOptions & { redisArgs?: string[]; redis?: RedisServer } = {},
): Promise<Stack> {
  const redis = opts.redis ?? cleanup.track(await startRedis(opts.redisArgs ?? []));
  return { redis, ...(await ambassadorFor(cleanup, redis.url, opts)) };
}

/**
 * The stack for tests that kill, restart or reconfigure Redis under connected clients: health
 * probes every 200 ms, so that the ambassador notices within a fraction of a second; ready.
 */
export function startProbedStack(cleanup: Cleanup, redisArgs: string[] = []): Promise<Stack> {
  return startStack(cleanup, { redisArgs, env: { AMBASSADOR_HEALTH_INTERVAL_MS: '200' }, ready: true });
}

/**
 * The stack with AMBASSADOR_UPSTREAM_MODE=shared: the listener's clients share its upstream
 * connections (AMBASSADOR_SHARED_CONNECTIONS, 1 unless `env` says) until they pin themselves.
 */
export function startSharedStack(cleanup: Cleanup, opts: PresetOptions & { redisArgs?: string[]; redis?: RedisServer } = {}): Promise<Stack> {
  return startStack(cleanup, { ...opts, env: { AMBASSADOR_UPSTREAM_MODE: 'shared', ...opts.env } });
}
