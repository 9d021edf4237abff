import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { readyz, type AmbassadorProcess } from '../support/ambassadorProcess.js';
import { startStack } from '../support/ambassadorPresets.js';
import { Cleanup, run } from '../support/processes.js';

// AMBASSADOR_WORKERS=2: two processes share the listener; the primary's /metrics adds them up.
describe('AMBASSADOR_WORKERS', () => {
  const cleanup = new Cleanup();
  let amb: AmbassadorProcess;
  let port: number;

  beforeAll(async () => {
    ({ amb, port } = await startStack(cleanup, { env: { AMBASSADOR_WORKERS: '2', AMBASSADOR_LOG_LEVEL: 'info' } }));
  });
  afterAll(() => cleanup.run());

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
    const { status, body } = await readyz(amb);
    expect(status).toBe(200);
    expect(body.ready).toBe(true);
  });

  it('stops every worker on SIGTERM and exits 0', async () => {
    const code = await amb.stop('SIGTERM');
    expect(code).toBe(0);
    const stopped = amb.logs().filter((l) => l.event === 'stopped');
    expect(stopped.length).toBe(3); // two workers and the primary
  });
});
