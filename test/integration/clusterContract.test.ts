/**
 * Redis Cluster's contract through the real CLI, against a real 6-node cluster:
 * - `REDIS_PORT_<p>_CLUSTER=host:port,host:port` (with `_CLUSTER_PORTS`, with
 *   AMBASSADOR_CLUSTER_PORTS, with neither: the 64 ports above p) and the flag form
 *   `--listen p --upstream cluster://h:p,h:p`: an entry on p, a listener per node in the range,
 *   each named <name>:<port> in logs and metrics, all of it usable by `redis-cli -c`;
 *   AMBASSADOR_ANNOUNCE_HOST, the host the rewritten replies name;
 * - configuration errors at start, exit code 2 and a message naming the variable: a range too
 *   small for the cluster's nodes, a seed that is a plain redis-server, two cluster listeners'
 *   ranges overlapping, a range holding another listener's port (and the admin port's).
 */
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { runCli, startAmbassador, waitReady, type AmbassadorProcess } from '../support/ambassadorProcess.js';
import { ambassadorPorts, listenerPorts } from '../support/portBlocks.js';
import { Cleanup, run } from '../support/processes.js';
import { connectError, RawClient } from '../support/rawClient.js';
import { keyServedBy, keySlot, parseClusterNodes, startRedisCluster, type RedisCluster } from '../support/redisCluster.js';
import { startRedis, waitForPort, type RedisServer } from '../support/redisServer.js';
import { plain } from '../support/resp.js';
import { waitUntil } from '../support/wait.js';

const HOST = '127.0.0.2';
const shared = new Cleanup();
const cleanup = new Cleanup();
let cluster: RedisCluster;
let plainRedis: RedisServer;
let seeds: string;

beforeAll(async () => {
  cluster = await startRedisCluster(shared);
  plainRedis = shared.track(await startRedis());
  seeds = cluster.nodes
    .slice(0, 2)
    .map((n) => `127.0.0.1:${n.port}`)
    .join(',');
}, 60_000);
afterEach(() => cleanup.run());
afterAll(() => shared.run());

/**
 * What a working cluster listener shows: /readyz 200, CLUSTER NODES through the entry naming
 * every member at HOST on a port of `range`, each such port answering CLUSTER MYID with that
 * member's id, a `listening` log line for the entry from `source`, a `cluster node listener`
 * line per node (named `<name>:<port>`, going to the node), and `redis-cli -c` through the
 * entry writing to every primary.
 */
async function expectWorking(amb: AmbassadorProcess, entry: number, range: { from: number; to: number }, source: string, name = 'redis'): Promise<void> {
  await waitReady(amb, 20_000);
  const c = await RawClient.connect(entry, HOST);
  const lines = parseClusterNodes(String(plain(await c.call(['CLUSTER', 'NODES']))));
  c.close();
  expect(lines.map((l) => l.id).sort()).toEqual(cluster.members().map((n) => n.id).sort());
  for (const l of lines) {
    expect(l.host).toBe(HOST);
    expect(l.port).toBeGreaterThanOrEqual(range.from);
    expect(l.port).toBeLessThanOrEqual(range.to);
    await waitForPort(l.port, 10_000, HOST);
    const n = await RawClient.connect(l.port, HOST);
    expect(plain(await n.call(['CLUSTER', 'MYID']))).toBe(l.id);
    n.close();
  }
  const logs = amb.logs();
  expect(logs.filter((l) => l.event === 'listening')).toEqual([
    expect.objectContaining({ listener: `${name}:${entry}`, port: entry, source, upstream: expect.stringMatching(/^cluster 127\.0\.0\.1:\d+/) }),
  ]);
  const nodeLines = logs.filter((l) => l.event === 'cluster node listener');
  expect(nodeLines).toHaveLength(cluster.members().length);
  for (const l of nodeLines) {
    const node = cluster.byId(String(l.node));
    expect(l).toMatchObject({ listener: `${name}:${String(l.port)}`, upstream: `tcp://127.0.0.1:${node.port}` });
    expect(lines.find((x) => x.id === node.id)!.port).toBe(l.port);
  }
  for (let k = 0; k < 20; k++) {
    const r = await run('redis-cli', ['-c', '-h', HOST, '-p', String(entry), 'SET', `contract:${entry}:${k}`, String(k)]);
    expect(r.stdout.trim(), r.stderr).toBe('OK');
  }
  // Each key landed on the primary that serves its slot, and the 20 reached every primary.
  const owners = new Set<number>();
  for (let k = 0; k < 20; k++) {
    const key = `contract:${entry}:${k}`;
    const owner = await cluster.ownerOf(keySlot(key));
    expect(await directCall(owner.port, 'GET', key)).toBe(String(k));
    owners.add(owner.port);
  }
  expect(owners.size).toBe((await cluster.primaries()).length);
}

async function directCall(port: number, ...args: string[]): Promise<unknown> {
  const c = await RawClient.connect(port);
  try {
    return plain(await c.call(args));
  } finally {
    c.close();
  }
}

describe('the contract', () => {
  it('REDIS_PORT_<p>_CLUSTER=seeds with REDIS_PORT_<p>_CLUSTER_PORTS=from-to', async () => {
    const { entry, from, to } = await ambassadorPorts(8);
    const amb = cleanup.track(
      await startAmbassador({
        env: { [`REDIS_PORT_${entry}_CLUSTER`]: seeds, [`REDIS_PORT_${entry}_CLUSTER_PORTS`]: `${from}-${to}`, AMBASSADOR_BIND: HOST },
        waitPorts: [entry],
        waitHost: HOST,
      }),
    );
    await expectWorking(amb, entry, { from, to }, `REDIS_PORT_${entry}_CLUSTER`);
  });

  it('a range exactly as large as the cluster is enough', async () => {
    const { entry, from, to } = await ambassadorPorts(cluster.members().length);
    const amb = cleanup.track(
      await startAmbassador({
        env: { [`REDIS_PORT_${entry}_CLUSTER`]: seeds, [`REDIS_PORT_${entry}_CLUSTER_PORTS`]: `${from}-${to}`, AMBASSADOR_BIND: HOST },
        waitPorts: [entry],
        waitHost: HOST,
      }),
    );
    await expectWorking(amb, entry, { from, to }, `REDIS_PORT_${entry}_CLUSTER`);
  });

  it('without a range: the 64 ports above p', async () => {
    const { entry } = await ambassadorPorts(64);
    const amb = cleanup.track(
      await startAmbassador({ env: { [`REDIS_PORT_${entry}_CLUSTER`]: seeds, AMBASSADOR_BIND: HOST }, waitPorts: [entry], waitHost: HOST }),
    );
    await expectWorking(amb, entry, { from: entry + 1, to: entry + 64 }, `REDIS_PORT_${entry}_CLUSTER`);
  });

  it('AMBASSADOR_CLUSTER_PORTS gives the one cluster listener its range', async () => {
    const [entry] = await listenerPorts(1);
    const { from, to } = await ambassadorPorts(8);
    const amb = cleanup.track(
      await startAmbassador({
        env: { [`CACHE_PORT_${entry}_CLUSTER`]: seeds, AMBASSADOR_CLUSTER_PORTS: `${from}-${to}`, AMBASSADOR_BIND: HOST },
        waitPorts: [entry!],
        waitHost: HOST,
      }),
    );
    await expectWorking(amb, entry!, { from, to }, `CACHE_PORT_${entry}_CLUSTER`, 'cache');
  });

  it('the flag form: --listen p --upstream cluster://h:p,h:p (--cluster-ports from-to), and --listen name:p', async () => {
    const { entry, from, to } = await ambassadorPorts(8);
    const amb = cleanup.track(
      await startAmbassador({
        args: ['--listen', `store:${entry}`, '--upstream', `cluster://${seeds}`, '--cluster-ports', `${from}-${to}`, '--bind', HOST],
        waitPorts: [entry],
        waitHost: HOST,
      }),
    );
    await expectWorking(amb, entry, { from, to }, `--listen store:${entry}`, 'store');
  });

  it('the flag form without --cluster-ports: the 64 ports above p', async () => {
    const { entry } = await ambassadorPorts(64);
    const amb = cleanup.track(
      await startAmbassador({ args: ['--listen', String(entry), '--upstream', `cluster://${seeds}`, '--bind', HOST], waitPorts: [entry], waitHost: HOST }),
    );
    await expectWorking(amb, entry, { from: entry + 1, to: entry + 64 }, `--listen ${entry}`);
  });

  it('AMBASSADOR_ANNOUNCE_HOST: the host every rewritten reply names, whatever address the client used', async () => {
    const { entry, from, to } = await ambassadorPorts(8);
    const amb = cleanup.track(
      await startAmbassador({
        env: { [`REDIS_PORT_${entry}_CLUSTER`]: seeds, [`REDIS_PORT_${entry}_CLUSTER_PORTS`]: `${from}-${to}`, AMBASSADOR_BIND: HOST, AMBASSADOR_ANNOUNCE_HOST: 'cache.example.test' },
        waitPorts: [entry],
        waitHost: HOST,
      }),
    );
    await waitReady(amb, 20_000);
    const c = await RawClient.connect(entry, HOST);
    const lines = parseClusterNodes(String(plain(await c.call(['CLUSTER', 'NODES']))));
    expect(lines.map((l) => l.host)).toEqual(lines.map(() => 'cache.example.test'));
    for (const [, , ...holders] of plain(await c.call(['CLUSTER', 'SLOTS'])) as [number, number, ...[string, number][]][]) {
      for (const [host, port] of holders) {
        expect(host).toBe('cache.example.test');
        expect(port).toBeGreaterThanOrEqual(from);
        expect(port).toBeLessThanOrEqual(to);
      }
    }
    const me = String(plain(await c.call(['CLUSTER', 'MYID'])));
    const other = (await cluster.primaries()).find((p) => p.id !== me)!;
    const key = keyServedBy(await cluster.view(), other, 'announce');
    expect(plain(await c.call(['GET', key]))).toEqual({ error: `MOVED ${keySlot(key)} cache.example.test:${lines.find((l) => l.id === other.id)!.port}` });
    c.close();
  });

  it('node listeners count in the metrics under their own listener label', async () => {
    const { entry, from, to } = await ambassadorPorts(8);
    const amb = cleanup.track(
      await startAmbassador({
        env: { [`REDIS_PORT_${entry}_CLUSTER`]: seeds, [`REDIS_PORT_${entry}_CLUSTER_PORTS`]: `${from}-${to}`, AMBASSADOR_BIND: HOST },
        waitPorts: [entry],
        waitHost: HOST,
      }),
    );
    await waitReady(amb, 20_000);
    const node = cluster.nodes[0]!;
    const c = await RawClient.connect(entry, HOST);
    const port = parseClusterNodes(String(plain(await c.call(['CLUSTER', 'NODES'])))).find((l) => l.id === node.id)!.port;
    c.close();
    const n = await RawClient.connect(port, HOST);
    for (let k = 0; k < 3; k++) await n.call(['CLUSTER', 'MYID']);
    n.close();
    await waitUntil(async () => (await amb.metric('redis_ambassador_commands_total', { listener: `redis:${port}`, cmd: 'cluster|myid' })) === 3, {
      what: `3 cluster|myid counted for redis:${port}`,
    });
    expect(await amb.metric('redis_ambassador_commands_total', { listener: `redis:${entry}`, cmd: 'cluster|myid' })).toBe(0);
  });
});

// These only run the CLI to its exit (the first two once it has asked the cluster).
describe.concurrent('configuration errors: exit code 2, the variable named', () => {
  it('a range too small for the cluster nodes', async () => {
    const { entry, from } = await ambassadorPorts(3);
    const to = from + 2;
    const r = await runCli([], { [`REDIS_PORT_${entry}_CLUSTER`]: seeds, [`REDIS_PORT_${entry}_CLUSTER_PORTS`]: `${from}-${to}`, AMBASSADOR_BIND: HOST, AMBASSADOR_ADMIN_ADDR: 'off' }, 30_000);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain(`REDIS_PORT_${entry}_CLUSTER:`);
    expect(r.stderr).toContain(`${from}-${to}`);
    expect(r.stderr).toMatch(new RegExp(`\\b${cluster.members().length} nodes`));
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('the same with AMBASSADOR_CLUSTER_PORTS', async () => {
    const { entry, from } = await ambassadorPorts(3);
    const r = await runCli([], { [`REDIS_PORT_${entry}_CLUSTER`]: seeds, AMBASSADOR_CLUSTER_PORTS: `${from}-${from}`, AMBASSADOR_BIND: HOST, AMBASSADOR_ADMIN_ADDR: 'off' }, 30_000);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain(`REDIS_PORT_${entry}_CLUSTER:`);
    expect(r.stderr).toContain('AMBASSADOR_CLUSTER_PORTS');
  });

  it('a seed that is a plain redis-server, not a cluster node', async () => {
    const [entry] = await listenerPorts(1);
    const r = await runCli([], { [`REDIS_PORT_${entry}_CLUSTER`]: `127.0.0.1:${plainRedis.port}`, AMBASSADOR_BIND: HOST, AMBASSADOR_ADMIN_ADDR: 'off' }, 30_000);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain(`REDIS_PORT_${entry}_CLUSTER`);
    expect(r.stderr).toContain(`127.0.0.1:${plainRedis.port}`);
    expect(r.stderr).toMatch(/not a Redis Cluster node/);
    expect(r.stderr).toMatch(/cluster support disabled/i); // Redis's own words, passed on
    expect(r.stderr).not.toMatch(/\n\s+at /);
  });

  it('a plain redis-server seed in the flag form', async () => {
    const [entry] = await listenerPorts(1);
    const r = await runCli(['--listen', String(entry), '--upstream', `cluster://127.0.0.1:${plainRedis.port}`, '--bind', HOST, '--admin', 'off'], {}, 30_000);
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain(`--listen ${entry}`);
    expect(r.stderr).toContain(`127.0.0.1:${plainRedis.port}`);
  });

  it('two cluster listeners whose ranges overlap', async () => {
    const [a, b] = await listenerPorts(2);
    const { from, to } = await ambassadorPorts(10);
    const r = await runCli([], {
      [`A_PORT_${a}_CLUSTER`]: seeds,
      [`A_PORT_${a}_CLUSTER_PORTS`]: `${from}-${from + 5}`,
      [`B_PORT_${b}_CLUSTER`]: seeds,
      [`B_PORT_${b}_CLUSTER_PORTS`]: `${from + 5}-${to}`,
      AMBASSADOR_ADMIN_ADDR: 'off',
    });
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain(`A_PORT_${a}_CLUSTER`);
    expect(r.stderr).toContain(`B_PORT_${b}_CLUSTER`);
    expect(r.stderr).toMatch(/overlap/);
    // Nothing was started: it exits before listening.
    expect(await connectError(a!)).toBe('ECONNREFUSED');
  });

  it('two cluster listeners without ranges, the second inside the first one\'s default 64', async () => {
    const ports = await listenerPorts(70);
    const [a, b] = [ports[0]!, ports[10]!];
    const r = await runCli([], { [`A_PORT_${a}_CLUSTER`]: seeds, [`B_PORT_${b}_CLUSTER`]: seeds, AMBASSADOR_ADMIN_ADDR: 'off' });
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain(`A_PORT_${a}_CLUSTER`);
    expect(r.stderr).toContain(`B_PORT_${b}_CLUSTER`);
  });

  it('AMBASSADOR_CLUSTER_PORTS with two cluster listeners', async () => {
    const [a, b] = await listenerPorts(2);
    const { from, to } = await ambassadorPorts(10);
    const r = await runCli([], { [`A_PORT_${a}_CLUSTER`]: seeds, [`B_PORT_${b}_CLUSTER`]: seeds, AMBASSADOR_CLUSTER_PORTS: `${from}-${to}`, AMBASSADOR_ADMIN_ADDR: 'off' });
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain('AMBASSADOR_CLUSTER_PORTS');
    expect(r.stderr).toContain('_CLUSTER_PORTS');
  });

  it('a range that holds another listener\'s port (a _TCP one)', async () => {
    const { entry, from, to } = await ambassadorPorts(10);
    const other = from + 3;
    const r = await runCli([], {
      [`REDIS_PORT_${entry}_CLUSTER`]: seeds,
      [`REDIS_PORT_${entry}_CLUSTER_PORTS`]: `${from}-${to}`,
      [`CACHE_PORT_${other}_TCP`]: plainRedis.url,
      AMBASSADOR_ADMIN_ADDR: 'off',
    });
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain(`REDIS_PORT_${entry}_CLUSTER`);
    expect(r.stderr).toContain(`CACHE_PORT_${other}_TCP`);
    expect(r.stderr).toContain(String(other));
  });

  it('a range that holds its own entry port', async () => {
    const { entry, to } = await ambassadorPorts(10);
    const r = await runCli([], { [`REDIS_PORT_${entry}_CLUSTER`]: seeds, [`REDIS_PORT_${entry}_CLUSTER_PORTS`]: `${entry}-${to}`, AMBASSADOR_ADMIN_ADDR: 'off' });
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain(`REDIS_PORT_${entry}_CLUSTER`);
  });

  it('a range that holds the admin port', async () => {
    const { entry, from, to } = await ambassadorPorts(10);
    const r = await runCli([], { [`REDIS_PORT_${entry}_CLUSTER`]: seeds, [`REDIS_PORT_${entry}_CLUSTER_PORTS`]: `${from}-${to}`, AMBASSADOR_ADMIN_ADDR: `127.0.0.1:${from + 2}` });
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain('AMBASSADOR_ADMIN_ADDR');
    expect(r.stderr).toContain(`REDIS_PORT_${entry}_CLUSTER`);
  });

  it('a range that is no range', async () => {
    const [entry] = await listenerPorts(1);
    for (const bad of ['7001', '7010-7001', '0-10', '7001-70000', 'a-b']) {
      const r = await runCli([], { [`REDIS_PORT_${entry}_CLUSTER`]: seeds, [`REDIS_PORT_${entry}_CLUSTER_PORTS`]: bad, AMBASSADOR_ADMIN_ADDR: 'off' });
      expect(r.code, `${bad}: ${r.stderr}`).toBe(2);
      expect(r.stderr).toContain(`REDIS_PORT_${entry}_CLUSTER_PORTS`);
    }
  });

  it('a _CLUSTER and a _SENTINEL variable for the same port', async () => {
    const [entry] = await listenerPorts(1);
    const r = await runCli([], { [`REDIS_PORT_${entry}_CLUSTER`]: seeds, [`OTHER_PORT_${entry}_SENTINEL`]: 'mymaster@127.0.0.1:26379', AMBASSADOR_ADMIN_ADDR: 'off' });
    expect(r.code, r.stdout + r.stderr).toBe(2);
    expect(r.stderr).toContain(`REDIS_PORT_${entry}_CLUSTER`);
    expect(r.stderr).toContain(`OTHER_PORT_${entry}_SENTINEL`);
  });
});
