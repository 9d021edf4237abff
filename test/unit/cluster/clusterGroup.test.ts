/**
 * ClusterGroup with a real ListenerFactory and scripted seeds (CLUSTER SHARDS answered with a
 * written view, PING with +PONG; no cluster is simulated): each node gets the next port of the
 * range and keeps it for its id (moved, removed and back), the range running out is an error at
 * start and a null port later, a seed that is no cluster node is a configuration error, and
 * /readyz's view of the entry (slot coverage) and of each node listener.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { ClusterGroup } from '../../../src/cluster/clusterGroup.js';
import { ConfigError } from '../../../src/config/configError.js';
import { loadConfig } from '../../../src/config/loadConfig.js';
import type { AmbassadorConfig } from '../../../src/config/settings.js';
import { ListenerFactory } from '../../../src/listenerFactory.js';
import { MetricsRegistry } from '../../../src/metrics/metricsRegistry.js';
import { TRAITS } from '../../../src/resp/commandTraits.js';
import { SecretStore } from '../../../src/secrets/secretStore.js';
import { SLOTS } from '../../../src/upstream/clusterTopology.js';
import { ambassadorPorts } from '../../support/portBlocks.js';
import { Cleanup } from '../../support/processes.js';
import { freePort } from '../../support/freePort.js';
import { openSocket } from '../../support/rawClient.js';
import { waitUntil } from '../../support/wait.js';
import { LogCapture } from '../upstream/logCapture.js';
import { fakeNode, shardsReply, type FakeNode } from '../upstream/clusterKit.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

interface Made {
  group: ClusterGroup;
  log: LogCapture;
  entry: number;
  from: number;
  to: number;
}

/** A group for REDIS_PORT_<entry>_CLUSTER=seed with node ports from-to, as the ambassador builds it. */
function group(seedPort: number, ports: { entry: number; from: number; to: number }, env: Record<string, string> = {}): Made {
  const r = loadConfig(
    [],
    {
      [`REDIS_PORT_${ports.entry}_CLUSTER`]: `127.0.0.1:${seedPort}`,
      [`REDIS_PORT_${ports.entry}_CLUSTER_PORTS`]: `${ports.from}-${ports.to}`,
      AMBASSADOR_ADMIN_ADDR: 'off',
      AMBASSADOR_HEALTH_INTERVAL_MS: '50',
      AMBASSADOR_HEALTH_FAILURES: '1',
      ...env,
    },
    { isCommand: (name) => TRAITS.isLabel(name) },
  );
  if (r.kind !== 'run') throw new Error(`expected run, got ${r.kind}`);
  const config: AmbassadorConfig = r.config;
  const spec = config.listeners[0]!;
  if (spec.target.kind !== 'cluster') throw new Error('not a cluster listener');
  const log = new LogCapture();
  const store = new SecretStore(config);
  const factory = new ListenerFactory(config, new MetricsRegistry(TRAITS.names), log.logger, store);
  const g = new ClusterGroup({ ...spec, target: spec.target }, factory, { ...config.cluster, tls: store.upstreamTls, timeoutMs: config.connectTimeoutMs }, log.logger);
  cleanup.add(g, (x) => {
    x.stop();
    for (const l of x.listeners) l.stopAccepting();
  });
  return { group: g, log, ...ports };
}

/** Two shards, one primary each, at the fake nodes' addresses. */
const twoShards = (a: FakeNode, b: FakeNode, ids: [string, string] = ['aaa', 'bbb']): string =>
  shardsReply([
    { slots: [0, 8191], nodes: [{ id: ids[0], port: a.port }] },
    { slots: [8192, 16383], nodes: [{ id: ids[1], port: b.port }] },
  ]);

describe('ClusterGroup before start: node ports', () => {
  it('each address the next port of the range, the same one when named again; null once the range is used up', async () => {
    const { group: g, log } = group(await freePort(), { entry: 27000, from: 27001, to: 27002 });
    expect(g.portFor('10.0.0.1', 6379)).toBe(27001);
    expect(g.portFor('10.0.0.2', 6379)).toBe(27002);
    expect(g.portFor('10.0.0.1', 6379)).toBe(27001);
    expect(g.portFor('10.0.0.1', 6380)).toBeNull();
    expect(g.portFor('10.0.0.2', 6379)).toBe(27002);
    expect(log.events('cluster node ports used up: a node cannot get a listener')).toEqual([expect.objectContaining({ level: 'error', listener: 'redis:27000', node: '10.0.0.1:6380' })]);
    expect(g.listeners.map((l) => [l.name, l.port])).toEqual([
      ['redis:27000', 27000],
      ['redis:27001', 27001],
      ['redis:27002', 27002],
    ]);
  });

  it('status(): the entry not ready with no slot served; each node listener with its upstream', async () => {
    const { group: g } = group(await freePort(), { entry: 27000, from: 27001, to: 27002 });
    g.portFor('10.0.0.1', 6379);
    const status = g.status();
    expect(Object.keys(status)).toEqual(['redis:27000', 'redis:27001']);
    expect(status['redis:27000']).toEqual({
      ready: false,
      master: null,
      upstreams: [{ upstream: 'cluster', up: false, error: `0 of ${SLOTS} slots served by a primary that is online` }],
    });
    expect(status['redis:27001']).toMatchObject({ ready: false, master: 'tcp://10.0.0.1:6379' });
  });
});

describe('ClusterGroup.start', () => {
  it('a seed that is no cluster node: a ConfigError naming it', async () => {
    const seed = await fakeNode(cleanup, '-ERR This instance has cluster support disabled\r\n');
    const { group: g } = group(seed.port, await ambassadorPorts(2));
    const err = await g.start('127.0.0.1', 5000).then(
      () => null,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(ConfigError);
    expect((err as Error).message).toContain(`seed 127.0.0.1:${seed.port} is not a Redis Cluster node (ERR This instance has cluster support disabled)`);
  });

  it('more nodes than the range holds: a ConfigError with both counts', async () => {
    const seed = await fakeNode(cleanup, '');
    seed.reply = shardsReply([
      { slots: [0, 5460], nodes: [{ id: 'a', port: 6001 }] },
      { slots: [5461, 10922], nodes: [{ id: 'b', port: 6002 }] },
      { slots: [10923, 16383], nodes: [{ id: 'c', port: 6003 }] },
    ]);
    const ports = await ambassadorPorts(2);
    const { group: g } = group(seed.port, ports);
    await expect(g.start('127.0.0.1', 5000)).rejects.toThrow(`the cluster has 3 nodes, but the node ports ${ports.from}-${ports.to} hold only 2`);
  });

  it('every node a listener, in the order the cluster lists them; the entry ready once every slot is served', async () => {
    const a = await fakeNode(cleanup, '');
    const b = await fakeNode(cleanup, '');
    a.reply = b.reply = twoShards(a, b);
    const ports = await ambassadorPorts(3);
    const { group: g, entry, from } = group(a.port, ports);
    await g.start('127.0.0.1', 5000);
    expect([g.portFor('127.0.0.1', a.port), g.portFor('127.0.0.1', b.port)]).toEqual([from, from + 1]);
    // The nodes answer PING, so their listeners' health checks pass.
    await waitUntil(() => Object.values(g.status()).every((s) => s.ready), { what: () => `all ready: ${JSON.stringify(g.status())}` });
    expect(Object.keys(g.status())).toEqual([`redis:${entry}`, `redis:${from}`, `redis:${from + 1}`]);
    expect(g.status()[`redis:${from + 1}`]?.master).toBe(`tcp://127.0.0.1:${b.port}`);
    for (const port of [entry, from, from + 1]) (await openSocket(port)).destroy();
  });

  it('a node keeps its port for its id: moved to another address, removed and back', async () => {
    const a = await fakeNode(cleanup, '');
    const b = await fakeNode(cleanup, '');
    const b2 = await fakeNode(cleanup, '');
    a.reply = b.reply = b2.reply = twoShards(a, b);
    const ports = await ambassadorPorts(3);
    // Re-read often: the changes below are only seen by reading.
    const { group: g, from } = group(a.port, ports, { AMBASSADOR_CLUSTER_REFRESH_MS: '50' });
    await g.start('127.0.0.1', 5000);
    const master = (port: number): string | null | undefined => g.status()[`redis:${port}`]?.master;
    expect([master(from), master(from + 1)]).toEqual([`tcp://127.0.0.1:${a.port}`, `tcp://127.0.0.1:${b.port}`]);

    a.reply = b.reply = b2.reply = twoShards(a, b2);
    await waitUntil(() => master(from + 1) === `tcp://127.0.0.1:${b2.port}`, { what: 'bbb followed to its new address' });
    expect(g.portFor('127.0.0.1', b2.port)).toBe(from + 1);

    a.reply = b2.reply = shardsReply([{ slots: [0, 16383], nodes: [{ id: 'aaa', port: a.port }] }]);
    await waitUntil(() => master(from + 1) === undefined, { what: 'bbb retired from the status' });
    expect(g.status()[`redis:${from}`]).toBeDefined();

    a.reply = b2.reply = twoShards(a, b2);
    await waitUntil(() => master(from + 1) === `tcp://127.0.0.1:${b2.port}`, { what: 'bbb back on its old port' });
    // No new port was taken for it: the third port of the range is still free.
    expect(g.listeners.map((l) => l.port)).toEqual([ports.entry, from, from + 1]);
    await waitUntil(() => g.status()[`redis:${from + 1}`]?.ready === true, { what: 'bbb ready again' });
    (await openSocket(from + 1)).destroy();
  });
});
