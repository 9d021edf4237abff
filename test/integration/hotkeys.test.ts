/**
 * /hotkeys against exact counts: a skewed (Zipf) load of GET, SET and MGET through the ambassador
 * (one process, and two workers whose views the primary merges), every key counted by the key
 * specs; each listed key's true count lies in [count − error, count], the keys used most are all
 * listed, and no key name ever reaches /metrics. Off by default: 404.
 */
import { afterAll, describe, expect, it } from 'vitest';
import type { HotKeysAnswer } from '../../src/admin/observeViews.js';
import { adminRequest, startAmbassador, waitReady, type AmbassadorProcess } from '../support/ambassadorProcess.js';
import { freePort } from '../support/freePort.js';
import { Cleanup } from '../support/processes.js';
import { direct, openClient } from '../support/rawClient.js';
import { startRedis } from '../support/redisServer.js';
import { cmd } from '../support/resp.js';
import { SeededRandom, zipf } from '../support/pseudoRandom.js';

const cleanup = new Cleanup();
afterAll(() => cleanup.run());

async function ambassador(env: Record<string, string>): Promise<{ amb: AmbassadorProcess; port: number }> {
  const redis = cleanup.track(await startRedis());
  const port = await freePort();
  const amb = cleanup.track(await startAmbassador({ args: ['--bind', '127.0.0.1', '--listen', `redis:${port}`, '--upstream', redis.url], env, waitPorts: [port] }));
  await waitReady(amb);
  return { amb, port };
}

/** A Zipf load over 5,000 keys on `clients` connections, pipelined; the exact count of each key. */
async function zipfLoad(port: number, clients: number, commands: number): Promise<Map<string, number>> {
  const random = new SeededRandom(42);
  const next = zipf(random, 5000, 1.1);
  const exact = new Map<string, number>();
  const add = (k: string): void => void exact.set(k, (exact.get(k) ?? 0) + 1);
  const conns = await Promise.all(Array.from({ length: clients }, () => openClient(cleanup, port)));
  const batches = conns.map(() => [] as Buffer[]);
  for (let i = 0; i < commands; i++) {
    const k = `user:${next()}`;
    const r = random.next();
    let frame: Buffer;
    if (r < 0.6) frame = cmd('GET', k);
    else if (r < 0.9) frame = cmd('SET', k, 'v');
    else {
      const k2 = `user:${next()}`;
      frame = cmd('MGET', k, k2);
      add(k2);
    }
    add(k);
    batches[i % clients]!.push(frame);
  }
  await Promise.all(conns.map(async (c, i) => {
    await c.write(Buffer.concat(batches[i]!));
    await c.waitForFrames(batches[i]!.length, 60_000);
  }));
  return exact;
}

async function hotkeys(amb: AmbassadorProcess): Promise<HotKeysAnswer> {
  const r = await adminRequest(amb, '/hotkeys');
  expect([r.status, r.type]).toEqual([200, 'application/json']);
  return JSON.parse(r.body) as HotKeysAnswer;
}

function checkAgainstExact(answer: HotKeysAnswer, listener: string, exact: Map<string, number>): void {
  const view = answer.listeners[listener]!;
  const total = [...exact.values()].reduce((a, b) => a + b, 0);
  expect(view.keys_counted).toBe(total);
  expect(view.keys).toHaveLength(100);
  for (const k of view.keys) {
    const truth = exact.get(k.key) ?? 0;
    expect([k.key, truth >= k.count - k.error && truth <= k.count]).toEqual([k.key, true]);
  }
  const listed = new Set(view.keys.map((k) => k.key));
  const top = [...exact].sort((a, b) => b[1] - a[1]);
  for (const [k] of top.slice(0, 20)) expect(listed, k).toContain(k);
  for (const [k, n] of exact) if (n > view.unlisted_max) expect(listed, `${k}: ${n} > ${view.unlisted_max}`).toContain(k);
  // The hottest key is counted within 1% and the commands on it are named.
  const hottest = view.keys[0]!;
  expect(hottest.key).toBe(top[0]![0]);
  expect(hottest.error / hottest.count).toBeLessThan(0.01);
  expect(hottest.commands.map((c) => c.cmd).sort()).toEqual(['get', 'mget', 'set']);
}

describe('/hotkeys', () => {
  it('lists the keys used most on a Zipf load, each within its error bound; key names never reach /metrics', async () => {
    const { amb, port } = await ambassador({ AMBASSADOR_HOTKEYS: 'on' });
    const exact = await zipfLoad(port, 4, 40_000);
    const answer = await hotkeys(amb);
    expect(answer).toMatchObject({ top: 100, window_ms: 60_000, buckets: 6, capacity: 1000 });
    checkAgainstExact(answer, `redis:${port}`, exact);
    const metrics = await amb.metrics();
    for (const k of answer.listeners[`redis:${port}`]!.keys.slice(0, 20)) expect(metrics).not.toContain(k.key);
  });

  it('merges two workers’ counts, keeping the bounds', async () => {
    const { amb, port } = await ambassador({ AMBASSADOR_HOTKEYS: 'on', AMBASSADOR_WORKERS: '2' });
    // Enough connections that both workers get some (node:cluster hands them out in turn).
    const exact = await zipfLoad(port, 8, 40_000);
    checkAgainstExact(await hotkeys(amb), `redis:${port}`, exact);
  });

  it('is off by default: 404 says how to turn it on', async () => {
    const { amb, port } = await ambassador({});
    await direct(port, ['GET', 'k']);
    const r = await adminRequest(amb, '/hotkeys');
    expect([r.status, r.body]).toEqual([404, 'hot keys are off: set AMBASSADOR_HOTKEYS=on\n']);
  });
});
