import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startAmbassador, type AmbassadorProcess } from '../support/ambassadorProcess.js';
import { freePort } from '../support/freePort.js';
import { run } from '../support/processes.js';
import { startRedis, type RedisServer } from '../support/redisServer.js';

// AMBASSADOR_WORKERS=2: two processes share the listener; the primary's /metrics adds them up.
describe('AMBASSADOR_WORKERS', () => {
  let redis: RedisServer;
  let amb: AmbassadorProcess;
  let port: number;

  beforeAll(async () => {
    redis = await startRedis();
    port = await freePort();
    amb = await startAmbassador({
      env: { [`REDIS_PORT_${port}_TCP`]: redis.url, AMBASSADOR_WORKERS: '2', AMBASSADOR_LOG_LEVEL: 'info' },
      waitPorts: [port],
    });
  });
  afterAll(async () => {
    await amb?.stop('SIGKILL');
    await redis?.stop();
  });

  it('runs two workers and reports exact totals added up over them', async () => {
    const r = await run('redis-benchmark', ['-p', String(port), '-t', 'set', '-n', '20000', '-c', '20', '-P', '4', '-q'], { timeoutMs: 60_000 });
    expect(r.code).toBe(0);
    expect(await amb.metric('redis_ambassador_commands_total', { cmd: 'set' })).toBe(20000);
    const workers = new Set(amb.logs().filter((l) => l.event === 'started' && l.worker !== undefined).map((l) => l.worker));
    expect(workers).toEqual(new Set([1, 2]));
    // Facts every worker observes for itself are not multiplied by the number of workers.
    await expect.poll(() => amb.metric('redis_ambassador_upstream_up'), { timeout: 10_000 }).toBe(1);
  });

  it('answers /readyz from the primary', async () => {
    const res = await fetch(`http://127.0.0.1:${amb.adminPort}/readyz`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as { ready: boolean };
    expect(body.ready).toBe(true);
  });

  it('stops every worker on SIGTERM and exits 0', async () => {
    const code = await amb.stop('SIGTERM');
    expect(code).toBe(0);
    const stopped = amb.logs().filter((l) => l.event === 'stopped');
    expect(stopped.length).toBe(3); // two workers and the primary
  });
});
