/**
 * Cluster clients through the ambassador, and through two chained ambassadors (the consumer-side
 * one seeded with the server-side one's entry): `redis-cli -c`, ioredis `Cluster` without natMap,
 * `redis-benchmark --cluster`. Each proves
 * (a) every address the client learned is one of the client-side ambassador's listeners (its
 *     own loopback address, a port of its range or its entry): ioredis' nodes('all'), CLUSTER
 *     SLOTS through it, the MOVED targets redis-cli followed, the masters redis-benchmark found;
 * (b) every connection each node has while the clients run (CLIENT LIST, each attributed to the
 *     process owning its other end through /proc) is the server-side ambassador's, apart from
 *     the nodes' own replication links; with the chain, the server-side ambassador's connections
 *     all come from the consumer-side one.
 *
 * The nodes listen on 127.0.0.1, the server-side ambassador on 127.0.0.2, the consumer-side one
 * on 127.0.0.3.
 */
import type { ClusterOptions } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { clientsOfNode, type ClusterAmbassador, ioredisCluster, nodePortsOf, startChainedCluster, tcpSocketsOf } from '../support/clusterAmbassador.js';
import { baseline } from '../support/metricsText.js';
import { Cleanup, run, startChild } from '../support/processes.js';
import { RawClient } from '../support/rawClient.js';
import { keyServedBy, keySlot, type RedisCluster } from '../support/redisCluster.js';
import { plain } from '../support/resp.js';
import { now, sleep, waitUntil } from '../support/wait.js';

const cleanup = new Cleanup();
let cluster: RedisCluster;
/** Server side: in front of the nodes. */
let server: ClusterAmbassador;
/** Consumer side: seeded with the server side's entry. */
let consumer: ClusterAmbassador;

beforeAll(async () => {
  ({ cluster, server, consumer } = await startChainedCluster(cleanup));
}, 90_000);
afterAll(() => cleanup.run());

const ways = [
  { name: 'through the ambassador', front: () => server },
  { name: 'through two chained ambassadors', front: () => consumer },
] as const;

/** Whether host:port is one of `ca`'s listeners. */
function isListenerOf(ca: ClusterAmbassador, host: string, port: number): boolean {
  return host === ca.host && (port === ca.entry || (port >= ca.range.from && port <= ca.range.to));
}

function expectListener(ca: ClusterAmbassador, host: string, port: number, what: string): void {
  expect(isListenerOf(ca, host, port), `${what}: ${host}:${port} is not a listener of the ambassador at ${ca.host} (${ca.entry}, ${ca.range.from}-${ca.range.to})`).toBe(true);
}

/**
 * (b): every connection of every live node, but the replication links between nodes, is owned by
 * the server-side ambassador; with the chain, every connection to the server-side ambassador's
 * listeners comes from the consumer-side one. A snapshot with a connection nobody owns any more
 * (it closed between CLIENT LIST and /proc) is taken again. Returns how many connections were seen.
 */
async function expectOnlyAmbassadorConnections(chained: boolean): Promise<number> {
  const nodePids = cluster.live().map((n) => n.process.pid!);
  const pids = [server.amb.process.pid!, consumer.amb.process.pid!, process.pid, ...nodePids];
  let seen = 0;
  for (const node of cluster.live()) {
    let entries = await clientsOfNode(node.port, pids);
    for (let again = 0; again < 20 && entries.some((e) => e.owner === null); again++) entries = await clientsOfNode(node.port, pids);
    for (const e of entries) {
      const replication = nodePids.includes(e.owner ?? -1) && /[MS]/.test(e.flags);
      if (replication) continue;
      expect(e.owner, `node ${node.port}: ${e.line} (owner ${e.owner}; the server-side ambassador is ${server.amb.process.pid})`).toBe(server.amb.process.pid);
      seen++;
    }
  }
  if (chained) {
    const serverPorts = new Set([server.entry, ...Array.from({ length: server.range.to - server.range.from + 1 }, (_, k) => server.range.from + k)]);
    const strangers = (): string[] => {
      const consumerSockets = tcpSocketsOf([consumer.amb.process.pid!]);
      const accepted = tcpSocketsOf([server.amb.process.pid!]).filter((s) => s.local.startsWith(`${server.host}:`) && serverPorts.has(Number(s.local.split(':')[1])) && s.state === '01');
      expect(accepted.length).toBeGreaterThan(0);
      const all = tcpSocketsOf([process.pid, consumer.amb.process.pid!, ...cluster.live().map((n) => n.process.pid!)]);
      return accepted
        .filter((s) => !consumerSockets.some((c) => c.local === s.remote && c.remote === s.local))
        .map((s) => `${s.remote} -> ${s.local} (other end: ${JSON.stringify(all.find((c) => c.local === s.remote && c.remote === s.local) ?? 'no process of the test')})`);
    };
    // A connection closing as it is looked at (its other end gone already) is looked at again.
    let left = strangers();
    for (let again = 0; again < 20 && left.length > 0; again++) left = strangers();
    expect(left, 'connections to the server-side ambassador that are not the consumer-side one\'s').toEqual([]);
  }
  return seen;
}

/** The cluster client's options in this file. */
const IOREDIS: ClusterOptions = { redisOptions: { maxRetriesPerRequest: 2 }, clusterRetryStrategy: () => 100 };

for (const way of ways) {
  describe(way.name, () => {
    const chained = way.front === ways[1].front;

    it('redis-cli -c: SET and GET on every primary from the entry, each MOVED it followed naming a listener', async () => {
      const ca = way.front();
      const lines = await cluster.view();
      const keys = (await cluster.primaries()).map((p) => keyServedBy(lines, p, `cli${ca.host}`));
      const script = keys.flatMap((k) => [`SET ${k} v-${k}`, `GET ${k}`]).join('\n') + '\n';
      const r = await run('redis-cli', ['-c', '-h', ca.host, '-p', String(ca.entry)], { input: script });
      expect(r.code, r.stderr).toBe(0);
      expect(r.stdout.split('\n').filter((l) => l !== '' && !l.startsWith('-> '))).toEqual(keys.flatMap((k) => ['OK', `v-${k}`]));
      // Where each key is served, as the cluster has it: the value is there.
      for (const k of keys) {
        const owner = await cluster.ownerOf(keySlot(k));
        const c = await RawClient.connect(owner.port);
        expect(plain(await c.call(['GET', k]))).toBe(`v-${k}`);
        c.close();
      }
      // The MOVED targets: the entry keeps to one primary while it is up, so each key that primary
      // does not own, asked at the entry, is redirected to a listener that leads to the owner,
      // which has the value; the key it owns is answered at the entry itself.
      const probe = await RawClient.connect(ca.entry, ca.host);
      const entryNode = plain(await probe.call(['CLUSTER', 'MYID']));
      probe.close();
      let redirected = 0;
      for (const k of keys) {
        const owner = await cluster.ownerOf(keySlot(k));
        const c = await RawClient.connect(ca.entry, ca.host);
        expect(plain(await c.call(['CLUSTER', 'MYID'])), 'the entry keeps to one node').toBe(entryNode);
        const v = plain(await c.call(['GET', k])) as { error: string } | string;
        c.close();
        if (owner.id === entryNode) {
          expect(v).toBe(`v-${k}`);
          continue;
        }
        const m = /^MOVED (\d+) (.*):(\d+)$/.exec((v as { error: string }).error ?? '');
        expect(m, JSON.stringify(v)).not.toBeNull();
        expect(Number(m![1])).toBe(keySlot(k));
        expectListener(ca, m![2]!, Number(m![3]), 'MOVED target');
        redirected++;
        const t = await RawClient.connect(Number(m![3]), m![2]);
        expect(plain(await t.call(['CLUSTER', 'MYID']))).toBe(owner.id);
        expect(plain(await t.call(['GET', k]))).toBe(`v-${k}`);
        t.close();
      }
      expect(redirected).toBe(keys.length - 1);
    });

    it('ioredis Cluster without natMap: every node it knows is a listener, writes land on their slot owners, only the ambassador reaches the nodes', async () => {
      const ca = way.front();
      const io = ioredisCluster(cleanup, ca, IOREDIS);
      try {
        const n = 300;
        await Promise.all(Array.from({ length: n }, (_, k) => io.set(`io:${ca.host}:${k}`, String(k))));
        for (let k = 0; k < n; k += 17) expect(await io.get(`io:${ca.host}:${k}`)).toBe(String(k));
        const known = io.nodes('all');
        expect(known.length).toBe(cluster.members().length);
        for (const node of known) expectListener(ca, String(node.options.host), Number(node.options.port), 'ioredis node');
        // ioredis' own view of the slots: all at listeners, each leading to the node serving it.
        const slotsReply = (await io.cluster('SLOTS')) as unknown as [number, number, ...[string, number, string, unknown][]][];
        for (const [from, , ...holders] of slotsReply) {
          for (const [host, port, id] of holders) {
            expectListener(ca, host, port, 'CLUSTER SLOTS');
            const t = await RawClient.connect(port, host);
            expect(plain(await t.call(['CLUSTER', 'MYID']))).toBe(id);
            t.close();
          }
          expect(holders[0]![2]).toBe((await cluster.ownerOf(from)).id);
        }
        for (let k = 0; k < n; k += 23) {
          const owner = await cluster.ownerOf(keySlot(`io:${ca.host}:${k}`));
          const c = await RawClient.connect(owner.port);
          expect(plain(await c.call(['GET', `io:${ca.host}:${k}`]))).toBe(String(k));
          c.close();
        }
        // Its connections are open now: each node's are the ambassador's.
        expect(await expectOnlyAmbassadorConnections(chained)).toBeGreaterThan(0);
      } finally {
        io.disconnect();
      }
    });

    it('redis-benchmark --cluster -t set,get -n 20000 (seeded with the entry): completes, its masters are listeners, only the ambassador reaches the nodes while it runs', async () => {
      const ca = way.front();
      const bench = cleanup.track(startChild('redis-benchmark', ['--cluster', '-h', ca.host, '-p', String(ca.entry), '-t', 'set,get', '-n', '20000', '-c', '20', '-q']));
      let checks = 0;
      const started = now();
      try {
        // While it runs (it connects once it has read the cluster's nodes), every few hundred ms: the nodes' connections.
        while (bench.process.exitCode === null && now() - started < 120_000) {
          if (/SET|GET/.test(bench.output())) {
            await expectOnlyAmbassadorConnections(chained);
            checks++;
          }
          await sleep(200);
        }
      } catch (err) {
        await bench.stop('SIGKILL'); // not left running into the next test
        throw err;
      }
      await waitUntil(() => bench.process.exitCode !== null, { timeoutMs: 120_000, what: 'redis-benchmark to finish' });
      const out = bench.output();
      expect(bench.process.exitCode, out.slice(-2000)).toBe(0);
      expect(out).toMatch(/SET: [\d.]+ requests per second/);
      expect(out).toMatch(/GET: [\d.]+ requests per second/);
      const masters = [...out.matchAll(/^Master \d+: (\w+) (.*):(\d+)$/gm)];
      expect(masters.map((m) => m[1]).sort()).toEqual((await cluster.primaries()).map((p) => p.id).sort());
      for (const m of masters) expectListener(ca, m[2]!, Number(m[3]), 'redis-benchmark master');
      expect(checks, 'the nodes looked at while redis-benchmark ran').toBeGreaterThan(0);
      console.log(`${way.name}: redis-benchmark checked the nodes' connections ${checks} times while it ran`);
    });
  });
}

describe('redis-benchmark --cluster seeded with the entry: the entry is the node its CLUSTER NODES calls myself', () => {
  // redis-benchmark (and redis-cli --cluster) take the address they connected to for the node
  // CLUSTER NODES flags `myself`. Were each new connection to the entry sent to the next primary,
  // the benchmark's clients for that master would land on other primaries, get -MOVED and refetch
  // the configuration, over and over, on a cluster that does not change; the entry keeps to one
  // online primary, so there is none, as when seeded with a node listener.
  it('on a stable cluster it gets no -MOVED, as when seeded with a node listener', async () => {
    const [first] = await cluster.primaries();
    const nodePort = (await nodePortsOf(server)).get(first!.id)!;
    const runBench = async (port: number): Promise<{ moved: number; warnings: number }> => {
      const delta = await baseline(server.amb.metrics);
      const r = await run('redis-benchmark', ['--cluster', '-h', server.host, '-p', String(port), '-t', 'set,get', '-n', '5000', '-c', '20', '-q'], { timeoutMs: 120_000 });
      expect(r.code, r.stdout.slice(-1000)).toBe(0);
      return { moved: await delta('redis_ambassador_cluster_redirects_total', { kind: 'moved' }), warnings: ((r.stdout + r.stderr).match(/configuration changed/g) ?? []).length };
    };
    const seededAtNode = await runBench(nodePort);
    const seededAtEntry = await runBench(server.entry);
    console.log(`redis-benchmark -n 5000 seeded with a node listener: ${JSON.stringify(seededAtNode)}; with the entry: ${JSON.stringify(seededAtEntry)}`);
    expect(seededAtNode).toEqual({ moved: 0, warnings: 0 });
    expect(seededAtEntry).toEqual({ moved: 0, warnings: 0 });
  });
});
