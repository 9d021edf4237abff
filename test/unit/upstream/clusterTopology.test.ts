/**
 * ClusterTopology: parseShards on CLUSTER SHARDS replies (RESP2 and RESP3), and the reading
 * itself against scripted seeds that answer CLUSTER SHARDS with a given view — which node is
 * asked first, a slotless view (a node reset after del-node) skipped or kept, a seed that is no
 * cluster node, no node answering. No real cluster: what Redis puts in the reply is written out.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { decodeReply } from '../../../src/resp/replyCodec.js';
import { ClusterTopology, SLOTS, parseShards, type ClusterNode } from '../../../src/upstream/clusterTopology.js';
import { Cleanup } from '../../support/processes.js';
import { freePort } from '../../support/freePort.js';
import { waitUntil } from '../../support/wait.js';
import { LogCapture } from './logCapture.js';
import { fakeNode, shardsReply, TopologyEvents, type Shard } from './clusterKit.js';

const cleanup = new Cleanup();
afterEach(() => cleanup.run());

const parse = (reply: string): ClusterNode[] => parseShards(decodeReply(Buffer.from(reply, 'latin1')));

const node = (id: string, port: number, primary: boolean, slots: number, online = true): ClusterNode => ({ id, host: '127.0.0.1', port, aliases: [], primary, online, slots });

/** Three shards, a replica each; the first shard's slots in two ranges. */
const THREE: Shard[] = [
  {
    slots: [0, 5000, 10923, 11383],
    nodes: [
      { id: 'a1', port: 6001 },
      { id: 'a2', port: 6004, role: 'replica' },
    ],
  },
  {
    slots: [5001, 10922],
    nodes: [
      { id: 'b1', port: 6002 },
      { id: 'b2', port: 6005, role: 'replica', health: 'loading' },
    ],
  },
  {
    slots: [11384, 16383],
    nodes: [
      { id: 'c1', port: 6003, health: 'failed' },
      { id: 'c2', port: 6006, role: 'replica' },
    ],
  },
];

const THREE_NODES: ClusterNode[] = [
  node('a1', 6001, true, 5001 + 461),
  node('a2', 6004, false, 0),
  node('b1', 6002, true, 5922),
  node('b2', 6005, false, 0, false),
  node('c1', 6003, true, 5000, false),
  node('c2', 6006, false, 0),
];

/** One primary and no slot: what a node reset by del-node sees. */
const SLOTLESS = (port: number): string => shardsReply([{ slots: [], nodes: [{ id: 'lonely', port }] }]);

describe('parseShards', () => {
  it('RESP2 and RESP3: every node, slots summed over ranges for primaries, online only when healthy', () => {
    expect(parse(shardsReply(THREE))).toEqual(THREE_NODES);
    expect(parse(shardsReply(THREE, true))).toEqual(THREE_NODES);
    expect(THREE_NODES.reduce((n, x) => n + x.slots, 0)).toBe(SLOTS);
  });

  it('the endpoint is the host, unless it is empty or "?" (unknown endpoint): then the ip', () => {
    const nodes = parse(
      shardsReply([
        {
          slots: [0, 16383],
          nodes: [
            { id: 'x', ip: '10.0.0.1', endpoint: 'node-x.internal', port: 6379 },
            { id: 'y', ip: '10.0.0.2', endpoint: '?', port: 6379, role: 'replica' },
            { id: 'z', ip: '10.0.0.3', endpoint: '', port: 6379, role: 'replica' },
          ],
        },
      ]),
    );
    expect(nodes.map((n) => n.host)).toEqual(['node-x.internal', '10.0.0.2', '10.0.0.3']);
    // The IP of a node announced by hostname is another name replies use for it (CLUSTER NODES does).
    expect(nodes.map((n) => n.aliases)).toEqual([['10.0.0.1'], [], []]);
  });

  it('drops nodes without an id, an address or a usable port; an error reply has none', () => {
    const nodes = parse(
      shardsReply([
        {
          slots: [0, 16383],
          nodes: [
            { id: '', port: 6379 },
            { id: 'noip', ip: '', port: 6379 },
            { id: 'noport', port: 0 },
            { id: 'ok', port: 6379 },
          ],
        },
      ]),
    );
    expect(nodes.map((n) => n.id)).toEqual(['ok']);
    expect(parse('-ERR This instance has cluster support disabled\r\n')).toEqual([]);
    expect(parse('*0\r\n')).toEqual([]);
  });
});

function topology(seeds: number[]) {
  const log = new LogCapture();
  const events = new TopologyEvents();
  const t = cleanup.add(
    new ClusterTopology(
      seeds.map((port) => ({ host: '127.0.0.1', port })),
      // The interval is not what is tested: reads happen at start and on refreshSoon() only.
      { tls: null, preamble: () => null, timeoutMs: 2000, refreshMs: 60_000 },
      log.logger,
      'redis:7000',
      events,
    ),
    (x) => x.stop(),
  );
  return { t, log, events };
}

describe('ClusterTopology reading', () => {
  it('start(): the view from the seed, reported and current; covered counts only online primaries', async () => {
    const seed = await fakeNode(cleanup, shardsReply(THREE));
    const { t, events } = topology([seed.port]);
    expect([t.current, t.covered]).toEqual([[], 0]);
    t.start();
    await waitUntil(() => events.views.length === 1, { what: 'the first view' });
    expect(events.views[0]).toEqual(THREE_NODES);
    expect(t.current).toEqual(THREE_NODES);
    // c1 failed: its 5000 slots are not served.
    expect(t.covered).toBe(SLOTS - 5000);
  });

  it('a seed that sees no slot served is skipped for one that does', async () => {
    const full = shardsReply([{ slots: [0, 16383], nodes: [{ id: 'p', port: 6001 }] }]);
    const lonely = await fakeNode(cleanup, SLOTLESS(6009));
    const good = await fakeNode(cleanup, full);
    const { t, events } = topology([lonely.port, good.port]);
    t.start();
    await waitUntil(() => events.views.length === 1, { what: 'the first view' });
    expect(events.views[0]).toEqual([node('p', 6001, true, SLOTS)]);
    expect([lonely.asks, good.asks]).toEqual([1, 1]);
  });

  it('when every node sees no slot and none was known before, the slotless view is taken', async () => {
    const a = await fakeNode(cleanup, SLOTLESS(6009));
    const b = await fakeNode(cleanup, SLOTLESS(6010));
    const { t, events } = topology([a.port, b.port]);
    t.start();
    await waitUntil(() => events.views.length === 1, { what: 'the first view' });
    // The first such view, after every node was asked for a better one.
    expect(events.views[0]).toEqual([node('lonely', 6009, true, 0)]);
    expect([a.asks, b.asks, t.covered]).toEqual([1, 1, 0]);
  });

  it('a view with slots is never traded for slotless ones: kept, with a warning', async () => {
    const a = await fakeNode(cleanup, '');
    const b = await fakeNode(cleanup, '');
    const view = shardsReply([
      { slots: [0, 8191], nodes: [{ id: 'a', port: a.port }] },
      { slots: [8192, 16383], nodes: [{ id: 'b', port: b.port }] },
    ]);
    a.reply = b.reply = view;
    const { t, log, events } = topology([a.port]);
    t.start();
    await waitUntil(() => events.views.length === 1, { what: 'the first view' });
    a.reply = SLOTLESS(a.port);
    b.reply = SLOTLESS(b.port);
    t.refreshSoon('test');
    await waitUntil(() => log.events('cluster topology kept: the only nodes that answered CLUSTER SHARDS see no slot served').length === 1, { what: 'the kept warning' });
    expect(events.views).toHaveLength(1);
    expect(t.covered).toBe(SLOTS);
    expect(t.current.map((n) => n.id)).toEqual(['a', 'b']);
  });

  it('nodes already known (and online) are asked before the seeds', async () => {
    const seed = await fakeNode(cleanup, '');
    const known = await fakeNode(cleanup, '');
    const failed = await fakeNode(cleanup, '');
    const view = shardsReply([
      {
        slots: [0, 16383],
        nodes: [
          { id: 'f', port: failed.port, health: 'failed' },
          { id: 'k', port: known.port, role: 'replica' },
        ],
      },
    ]);
    seed.reply = known.reply = failed.reply = view;
    const { t, events } = topology([seed.port]);
    t.start();
    await waitUntil(() => events.views.length === 1, { what: 'the first view' });
    expect([seed.asks, known.asks, failed.asks]).toEqual([1, 0, 0]);
    await events.reread(t);
    expect([seed.asks, known.asks, failed.asks]).toEqual([1, 1, 0]);
  });

  it('a seed that is no cluster node is reported with its error, and the next seed asked', async () => {
    const plain = await fakeNode(cleanup, '-ERR This instance has cluster support disabled\r\n');
    const good = await fakeNode(cleanup, shardsReply([{ slots: [0, 16383], nodes: [{ id: 'p', port: 6001 }] }]));
    const { t, events } = topology([plain.port, good.port]);
    t.start();
    await waitUntil(() => events.views.length === 1, { what: 'the first view' });
    expect(events.notACluster).toEqual([[`127.0.0.1:${plain.port}`, 'ERR This instance has cluster support disabled']]);
    expect(t.covered).toBe(SLOTS);
  });

  it('no node answering: a warning, no view, nothing covered', async () => {
    const closed = await freePort();
    const { t, log, events } = topology([closed]);
    t.start();
    await waitUntil(() => log.events('cluster topology unknown: no node answered CLUSTER SHARDS').length === 1, { what: 'the unknown warning' });
    expect(log.events('cluster topology unknown: no node answered CLUSTER SHARDS')[0]).toMatchObject({ level: 'warn', listener: 'redis:7000', reason: 'start', tried: 1 });
    expect([events.views, t.current, t.covered]).toEqual([[], [], 0]);
  });
});
