/**
 * ClusterEntrySelector over a ClusterTopology fed by a scripted seed: the entry stands for one
 * online primary (the lowest id at first), sticks to it while it stays one, moves when it fails
 * or is demoted; readiness is every slot served by an online primary.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { HealthCheck } from '../../../src/upstream/healthCheck.js';
import { ClusterEntrySelector } from '../../../src/upstream/clusterEntrySelector.js';
import { ClusterTopology, SLOTS } from '../../../src/upstream/clusterTopology.js';
import { Cleanup } from '../../support/processes.js';
import { freePort } from '../../support/freePort.js';
import { waitUntil } from '../../support/wait.js';
import { LogCapture } from './logCapture.js';
import { fakeNode, shardsReply, TopologyEvents, type FakeNode, type ShardNode } from './clusterKit.js';
import { HEALTH, addressOf } from './upstreamKit.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

interface Setup {
  seed: FakeNode;
  topology: ClusterTopology;
  events: TopologyEvents;
  sel: ClusterEntrySelector;
  /** Ports the nodes claim: nothing listens there, so a re-read falls through to the seed at once. */
  ports: number[];
  healthAsked: string[];
}

async function setup(): Promise<Setup> {
  const ports = [await freePort(), await freePort(), await freePort(), await freePort()];
  const seed = await fakeNode(cleanup, '*0\r\n');
  const events = new TopologyEvents();
  const topology = cleanup.add(
    new ClusterTopology([{ host: '127.0.0.1', port: seed.port }], { tls: null, preamble: () => null, timeoutMs: 2000, refreshMs: 60_000 }, new LogCapture().logger, 'redis:7000', events),
    (t) => t.stop(),
  );
  const healthAsked: string[] = [];
  const sel = new ClusterEntrySelector(topology, (url) => {
    healthAsked.push(url);
    return null;
  });
  return { seed, topology, events, sel, ports, healthAsked };
}

/** Shows the cluster as two halves of the slots, one node each, `extra` as more shards without slots. */
async function show(s: Setup, first: ShardNode, second: ShardNode, ...extra: ShardNode[]): Promise<void> {
  s.seed.reply = shardsReply([
    { slots: [0, 8191], nodes: [first] },
    { slots: [8192, 16383], nodes: [second] },
    ...extra.map((n) => ({ slots: [], nodes: [n] })),
  ]);
  await s.events.reread(s.topology);
}

describe('ClusterEntrySelector', () => {
  it('before the topology is read: no upstream, not ready, the coverage in the status', async () => {
    const { sel } = await setup();
    expect(sel.current()).toBeNull();
    expect(sel.ready()).toBe(false);
    expect(sel.status()).toEqual([{ upstream: 'cluster', up: false, error: `0 of ${SLOTS} slots are served by a primary that is online` }]);
  });

  it('stands for the online primary with the lowest id; ready with every slot served', async () => {
    const s = await setup();
    const [p0, p1, p2] = s.ports;
    await show(s, { id: 'ccc', port: p0! }, { id: 'bbb', port: p1! }, { id: 'aaa', port: p2!, role: 'replica' });
    expect(s.sel.current()).toEqual(addressOf(p1!));
    expect(s.sel.ready()).toBe(true);
    expect(s.sel.status()).toEqual([{ upstream: 'cluster', up: true }]);
  });

  it('sticks to its primary while it stays one, even when a primary with a lower id appears', async () => {
    const s = await setup();
    const [p0, p1, p2] = s.ports;
    await show(s, { id: 'ccc', port: p0! }, { id: 'bbb', port: p1! });
    expect(s.sel.current()?.port).toBe(p1);
    await show(s, { id: 'ccc', port: p0! }, { id: 'bbb', port: p1! }, { id: 'aaa', port: p2! });
    expect(s.sel.current()?.port).toBe(p1);
  });

  it('moves when its primary fails, and stays on the new one when the old comes back', async () => {
    const s = await setup();
    const [p0, p1, p2, p3] = s.ports;
    await show(s, { id: 'aaa', port: p0! }, { id: 'ddd', port: p1! }, { id: 'ccc', port: p2! });
    expect(s.sel.current()?.port).toBe(p0);
    // aaa fails; its replica bbb takes its slots over.
    s.seed.reply = shardsReply([
      {
        slots: [0, 8191],
        nodes: [
          { id: 'aaa', port: p0!, role: 'replica', health: 'failed' },
          { id: 'bbb', port: p3! },
        ],
      },
      { slots: [8192, 16383], nodes: [{ id: 'ddd', port: p1! }] },
      { slots: [], nodes: [{ id: 'ccc', port: p2! }] },
    ]);
    await s.events.reread(s.topology);
    expect(s.sel.current()?.port).toBe(p3);
    expect(s.sel.ready()).toBe(true);
    await show(s, { id: 'aaa', port: p0! }, { id: 'ddd', port: p1! }, { id: 'bbb', port: p3! });
    expect(s.sel.current()?.port).toBe(p3);
  });

  it('moves when its primary is demoted to a replica', async () => {
    const s = await setup();
    const [p0, p1] = s.ports;
    await show(s, { id: 'aaa', port: p0! }, { id: 'bbb', port: p1! });
    expect(s.sel.current()?.port).toBe(p0);
    await show(s, { id: 'aaa', port: p0!, role: 'replica' }, { id: 'bbb', port: p1! });
    expect(s.sel.current()?.port).toBe(p1);
  });

  it('no primary online: an online replica; nothing online: null; a failed primary makes it unready', async () => {
    const s = await setup();
    const [p0, p1, p2] = s.ports;
    await show(s, { id: 'aaa', port: p0!, health: 'failed' }, { id: 'ccc', port: p1!, role: 'replica' }, { id: 'bbb', port: p2!, role: 'replica' });
    expect(s.sel.current()?.port).toBe(p2);
    expect(s.sel.ready()).toBe(false);
    // The first shard's primary failed and the second shard has none.
    expect(s.sel.status()).toEqual([{ upstream: 'cluster', up: false, error: `0 of ${SLOTS} slots are served by a primary that is online` }]);
    await show(s, { id: 'aaa', port: p0!, health: 'failed' }, { id: 'ccc', port: p1!, role: 'replica', health: 'failed' });
    expect(s.sel.current()).toBeNull();
  });

  it('half the slots on a failed primary: not ready, the count in the status', async () => {
    const s = await setup();
    const [p0, p1] = s.ports;
    await show(s, { id: 'aaa', port: p0! }, { id: 'bbb', port: p1!, health: 'failed' });
    expect(s.sel.current()?.port).toBe(p0);
    expect(s.sel.ready()).toBe(false);
    expect(s.sel.status()).toEqual([{ upstream: 'cluster', up: false, error: `8192 of ${SLOTS} slots are served by a primary that is online` }]);
  });

  it('suspect() reads the topology again; healthOf() asks the node listeners', async () => {
    const s = await setup();
    const [p0, p1] = s.ports;
    await show(s, { id: 'aaa', port: p0! }, { id: 'bbb', port: p1! });
    const asks = s.seed.asks;
    s.sel.suspect('connect failed');
    await waitUntil(() => s.seed.asks > asks, { what: 'the topology read again' });
    expect(s.sel.healthOf('tcp://127.0.0.1:1')).toBeNull();
    expect(s.healthAsked).toEqual(['tcp://127.0.0.1:1']);
    const check = new HealthCheck(addressOf(p0!), { ...HEALTH, probe: 'ping' }, () => {});
    const withHealth = new ClusterEntrySelector(s.topology, () => check);
    expect(withHealth.healthOf('tcp://127.0.0.1:1')).toBe(check);
  });
});
