/**
 * Resharding under load through the ambassador: `redis-cli --cluster reshard` (straight at the
 * nodes) moves 500 slots from one primary to another while two ioredis `Cluster` clients write
 * (SET of new keys, INCR of counters) into exactly those slots and a few others, one through the
 * ambassador, one through two chained ambassadors. The redirects the migration causes (-ASK while
 * a slot moves, -MOVED once it has) reach the clients rewritten (cluster_redirects_total grows on
 * both ambassadors), and no acknowledged write is lost: every acknowledged SET is at the slot's
 * new owner with its value, every counter equals its acknowledged INCRs.
 */
import type { ClusterOptions } from 'ioredis';
import { afterAll, beforeAll, expect, it } from 'vitest';
import { type ClusterAmbassador, ioredisCluster, startChainedCluster } from '../support/clusterAmbassador.js';
import { ClusterWriter, tagsForSlots } from '../support/clusterWriter.js';
import { baseline } from '../support/metricsText.js';
import { Cleanup } from '../support/processes.js';
import { RawClient } from '../support/rawClient.js';
import { servesSlot, slotCount, type RedisCluster } from '../support/redisCluster.js';
import { cmd } from '../support/resp.js';
import { now, waitUntil } from '../support/wait.js';

const MOVE = 500;

const cleanup = new Cleanup();
let cluster: RedisCluster;
let server: ClusterAmbassador;
let consumer: ClusterAmbassador;

beforeAll(async () => {
  ({ cluster, server, consumer } = await startChainedCluster(cleanup));
}, 90_000);
afterAll(() => cleanup.run());

/** The cluster client's options in this file. */
const IOREDIS: ClusterOptions = { redisOptions: { maxRetriesPerRequest: 5 } };

it(`reshard ${MOVE} slots under load: -ASK and -MOVED rewritten, no acknowledged write lost`, async () => {
  const before = await cluster.view();
  const [from, to] = await cluster.primaries();
  const fromLine = before.find((l) => l.id === from!.id)!;
  // The slots reshard takes are the first 500 of the source (redis-cli takes them in order). The
  // writes go to 16 of them, spread over the 500, each holding 400 keys beforehand, so that
  // MIGRATE takes a while on each (while it does, a new key there gets -ASK); and to ten slots of
  // the third primary, which do not move, as a control.
  const sourceSlots = Array.from({ length: 16384 }, (_, s) => s).filter((s) => servesSlot(fromLine, s));
  const hot = sourceSlots.slice(0, MOVE).filter((_, k) => k % 32 === 5);
  const third = before.find((l) => l.flags.includes('master') && l.id !== from!.id && l.id !== to!.id)!;
  const control = Array.from({ length: 16384 }, (_, s) => s).filter((s) => servesSlot(third, s)).slice(0, 10);
  const tags = tagsForSlots([...hot, ...control]);

  const seed = await RawClient.connect(from!.port);
  const seeded = hot.flatMap((s) => Array.from({ length: 400 }, (_, k) => `${tags.get(s)}:seed:${k}`));
  await seed.write(Buffer.concat(seeded.map((k) => cmd('SET', k, k))));
  await seed.waitForFrames(seeded.length, 30_000);
  seed.close();

  const deltaServer = await baseline(server.amb.metrics);
  const deltaConsumer = await baseline(consumer.amb.metrics);
  const writers = [new ClusterWriter(ioredisCluster(cleanup, server, IOREDIS), tags, 'one'), new ClusterWriter(ioredisCluster(cleanup, consumer, IOREDIS), tags, 'chain')];
  for (const w of writers) w.start();
  await waitUntil(() => writers.every((w) => w.acknowledged > 200), { timeoutMs: 20_000, what: () => `both writers going: ${writers.map((w) => w.summary()).join('; ')}` });

  const started = now();
  await cluster.cli('reshard', `127.0.0.1:${from!.port}`, '--cluster-from', from!.id, '--cluster-to', to!.id, '--cluster-slots', String(MOVE), '--cluster-yes');
  const reshardMs = now() - started;
  // The clients go on until the ambassadors' topology and their own have followed.
  const ackedAtEnd = writers.map((w) => w.acknowledged);
  await waitUntil(() => writers.every((w, k) => w.acknowledged > ackedAtEnd[k]! + 500), { timeoutMs: 30_000, what: () => `writes after the reshard: ${writers.map((w) => w.summary()).join('; ')}` });
  for (const w of writers) await w.stop();
  await cluster.waitHealthy();

  const after = await cluster.view();
  const toLine = after.find((l) => l.id === to!.id)!;
  expect(sourceSlots.slice(0, MOVE).every((s) => servesSlot(toLine, s))).toBe(true);
  const moved = hot;
  expect(slotCount(after.find((l) => l.id === from!.id)!.slots)).toBe(slotCount(fromLine.slots) - MOVE);
  const redirects = {
    server: { ask: await deltaServer('redis_ambassador_cluster_redirects_total', { kind: 'ask' }), moved: await deltaServer('redis_ambassador_cluster_redirects_total', { kind: 'moved' }) },
    consumer: { ask: await deltaConsumer('redis_ambassador_cluster_redirects_total', { kind: 'ask' }), moved: await deltaConsumer('redis_ambassador_cluster_redirects_total', { kind: 'moved' }) },
  };
  const movedSet = new Set(moved);
  const inMoved = writers.map((w) => w.acks.filter((a) => movedSet.has(a.slot) && a.at > started && a.at < started + reshardMs).length);
  console.log(
    `reshard of ${MOVE} slots took ${reshardMs.toFixed(0)} ms under load; ${writers.map((w) => w.summary()).join('; ')}; ` +
      `writes acknowledged into moving slots during it: ${inMoved.join(', ')}; redirects rewritten ${JSON.stringify(redirects)}`,
  );
  // The redirects went through both ambassadors, rewritten.
  expect(redirects.server.ask).toBeGreaterThan(0);
  expect(redirects.server.moved).toBeGreaterThan(0);
  expect(redirects.consumer.ask).toBeGreaterThan(0);
  expect(redirects.consumer.moved).toBeGreaterThan(0);
  expect(inMoved.every((n) => n > 0)).toBe(true);
  // Nothing acknowledged is lost (the seeded keys neither), and nothing failed.
  const seededNow = await writers[0]!.read(cluster, seeded);
  expect(seeded.filter((k) => seededNow.get(k) !== k)).toEqual([]);
  for (const w of writers) expect(await w.verify(cluster), w.summary()).toEqual([]);
  for (const w of writers) expect(w.errors.slice(0, 5), w.summary()).toEqual([]);
}, 180_000);
