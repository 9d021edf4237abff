/**
 * Redis Cluster through the ambassador: every reply it rewrites, compared with the same command
 * sent straight to the same node, field by field, in RESP2 and RESP3.
 *
 * The nodes listen on 127.0.0.1; the ambassador on 127.0.0.2 only, so an address it hands out is
 * told apart from a node's at a glance. The expected reply is built by the test from the direct
 * one (its own transformation, not the ambassador's code): every node address 127.0.0.1:<node
 * port> becomes 127.0.0.2:<that node's listener port> and nothing else changes (the cluster bus
 * port of CLUSTER NODES stays; CLUSTER SHARDS would lose a tls-port, which Redis 7.0 names only
 * with tls-cluster yes, not tested here). Which
 * listener port is which node's is learned independently of any rewriting: CLUSTER MYID through
 * every port of the range. So one mapping id → port must explain every reply.
 *
 * Replies that change by themselves (timestamps in CLUSTER NODES, offsets, lag) are compared in a
 * sandwich: direct, through the ambassador, direct again; the comparison counts only when both
 * direct replies are byte-identical, else it is tried again. Each reply through the ambassador
 * is decoded with the test codec (its lengths must add up to exactly its bytes) and is followed
 * by a PING that must come back PONG (the stream stays aligned after a re-encoded frame).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startClusterAmbassador, type ClusterAmbassador } from '../support/clusterAmbassador.js';
import { baseline } from '../support/metricsText.js';
import { Cleanup } from '../support/processes.js';
import { connectError, RawClient, type Arg } from '../support/rawClient.js';
import { keyServedBy, keySlot, startRedisCluster, type ClusterNodeServer, type RedisCluster } from '../support/redisCluster.js';
import { cmd, parseFrames, plain, type RespValue } from '../support/resp.js';
import { waitUntil } from '../support/wait.js';

const NODE_HOST = '127.0.0.1';
const HOST = '127.0.0.2';

const cleanup = new Cleanup();
let cluster: RedisCluster;
let ca: ClusterAmbassador;
/** node id → its listener port, from CLUSTER MYID through each port of the range. */
const listenerOf = new Map<string, number>();

beforeAll(async () => {
  cluster = await startRedisCluster(cleanup);
  ca = await startClusterAmbassador(cleanup, { seeds: [{ host: NODE_HOST, port: cluster.nodes[0]!.port }] });
  for (let p = ca.range.from; p <= ca.range.to; p++) {
    if ((await connectError(p, HOST)) !== null) continue;
    const c = await RawClient.connect(p, HOST);
    listenerOf.set(String(plain(await c.call(['CLUSTER', 'MYID']))), p);
    c.close();
  }
}, 90_000);
afterAll(() => cleanup.run());

// --- the test's own rewriting of a direct reply --------------------------------------------

/** The ambassador's address for the node Redis names `host:port` (throws for an address no node has). */
function mapped(host: string, port: number): [string, number] {
  if (host !== NODE_HOST) throw new Error(`a direct reply names ${host}:${port}`);
  const node = cluster.byPort(port);
  const p = listenerOf.get(node.id);
  if (p === undefined) throw new Error(`node ${node.id} (${port}) has no listener`);
  return [HOST, p];
}

function textOf(v: RespValue): string {
  if (v.type === 'bulk' && v.value !== null) return v.value.toString('latin1');
  if (v.type === 'simple' || v.type === 'verbatim' || v.type === 'error') return v.value;
  throw new Error(`not a string: ${JSON.stringify(plain(v))}`);
}

/** The same kind of string with new text (a verbatim string keeps its format prefix). */
function withText(v: RespValue, text: string): RespValue {
  if (v.type === 'bulk') return { type: 'bulk', value: Buffer.from(text, 'latin1') };
  if (v.type === 'verbatim') return { type: 'verbatim', value: v.value.slice(0, 4) + text.slice(4) };
  if (v.type === 'simple' || v.type === 'error') return { type: v.type, value: text };
  throw new Error(`not a string: ${JSON.stringify(plain(v))}`);
}

/** A verbatim string's text without its `txt:` prefix, else the text. */
function bodyOf(v: RespValue): string {
  return v.type === 'verbatim' ? v.value.slice(4) : textOf(v);
}
function withBody(v: RespValue, body: string): RespValue {
  return v.type === 'verbatim' ? { type: 'verbatim', value: v.value.slice(0, 4) + body } : withText(v, body);
}

function items(v: RespValue): RespValue[] {
  if ((v.type === 'array' || v.type === 'set' || v.type === 'push') && v.value !== null) return v.value;
  throw new Error(`not an array: ${JSON.stringify(plain(v))}`);
}

function withItems(v: RespValue, list: RespValue[]): RespValue {
  return { ...(v as { type: 'array' }), value: list };
}

function int(n: number): RespValue {
  return { type: 'integer', value: n };
}

/** A key → value reply: RESP3 map or RESP2 flat array, as [key text, value] pairs. */
function pairs(v: RespValue): [RespValue, RespValue][] {
  if (v.type === 'map') return v.value;
  const list = items(v);
  const out: [RespValue, RespValue][] = [];
  for (let k = 0; k + 1 < list.length; k += 2) out.push([list[k]!, list[k + 1]!]);
  return out;
}

function withPairs(v: RespValue, list: [RespValue, RespValue][]): RespValue {
  if (v.type === 'map') return { type: 'map', value: list };
  return withItems(v, list.flat());
}

/** `-MOVED <slot> host:port` / `-ASK …`. */
function redirect(v: RespValue): RespValue {
  const m = /^(MOVED|ASK) (\d+) (.*):(\d+)$/.exec(textOf(v));
  if (m === null) throw new Error(`not a redirect: ${textOf(v)}`);
  const [h, p] = mapped(m[3]!, Number(m[4]));
  return withText(v, `${m[1]} ${m[2]} ${h}:${p}`);
}

/** CLUSTER SLOTS: [from, to, [ip, port, id, metadata], …]. */
function slots(v: RespValue): RespValue {
  return withItems(
    v,
    items(v).map((range) =>
      withItems(
        range,
        items(range).map((x, k) => {
          if (k < 2) return x;
          const [ip, port, id, meta] = items(x);
          const [h, p] = mapped(textOf(ip!), (port as { value: number }).value);
          // The networking metadata: an announced hostname is the node's address too.
          const m = meta === undefined ? [] : [withPairs(meta, pairs(meta).map(([k, v]): [RespValue, RespValue] => [k, textOf(k) === 'hostname' ? withText(v, h) : v]))];
          return withItems(x, [withText(ip!, h), int(p), id!, ...m]);
        }),
      ),
    ),
  );
}

/** CLUSTER SHARDS: shards of { slots, nodes: [{ id, port, tls-port, ip, endpoint, … }] }. */
function shards(v: RespValue): RespValue {
  return withItems(
    v,
    items(v).map((shard) =>
      withPairs(
        shard,
        pairs(shard).map(([k, x]) => {
          if (textOf(k) !== 'nodes') return [k, x];
          const nodes = items(x).map((node) => {
            const fields = pairs(node);
            const ip = textOf(fields.find(([f]) => textOf(f) === 'ip')![1]);
            const port = (fields.find(([f]) => textOf(f) === 'port')![1] as { value: number }).value;
            const [h, p] = mapped(ip, port);
            const out = fields
              .filter(([f]) => textOf(f) !== 'tls-port')
              .map(([f, y]): [RespValue, RespValue] => {
                const name = textOf(f);
                if (name === 'port') return [f, int(p)];
                if (name === 'ip' || name === 'endpoint' || name === 'hostname') return [f, withText(y, h)];
                return [f, y];
              });
            return withPairs(node, out);
          });
          return [k, withItems(x, nodes)];
        }),
      ),
    ),
  );
}

/** One CLUSTER NODES line: `<id> <ip:port@cport> …`, the bus port kept. */
function nodesLine(line: string): string {
  if (line === '') return line;
  const f = line.split(' ');
  const m = /^(.*):(\d+)@(\d+)(,.*)?$/.exec(f[1]!);
  if (m === null) throw new Error(`CLUSTER NODES address ${f[1]}`);
  const [h, p] = mapped(m[1]!, Number(m[2]));
  // An announced hostname (",name") is a node's address too: the ambassador's host.
  f[1] = `${h}:${p}@${m[3]}${m[4] !== undefined ? `,${h}` : ''}`;
  return f.join(' ');
}

function nodes(v: RespValue): RespValue {
  return withBody(v, bodyOf(v).split('\n').map(nodesLine).join('\n'));
}

function nodeLines(v: RespValue): RespValue {
  return withItems(v, items(v).map((line) => withText(line, nodesLine(textOf(line)))));
}

/** ROLE: [master, offset, [[ip, port, offset]…]] or [slave, ip, port, state, offset]. */
function role(v: RespValue): RespValue {
  const list = items(v);
  if (textOf(list[0]!) === 'master') {
    return withItems(v, [
      list[0]!,
      list[1]!,
      withItems(
        list[2]!,
        items(list[2]!).map((r) => {
          const [ip, port, offset] = items(r);
          const [h, p] = mapped(textOf(ip!), Number(textOf(port!)));
          return withItems(r, [withText(ip!, h), withText(port!, String(p)), offset!]);
        }),
      ),
    ]);
  }
  const [h, p] = mapped(textOf(list[1]!), (list[2] as { value: number }).value);
  return withItems(v, [list[0]!, withText(list[1]!, h), int(p), ...list.slice(3)]);
}

/** INFO: master_host/master_port, and slave<N>:ip=…,port=…. */
function infoText(v: RespValue): RespValue {
  const text = bodyOf(v);
  const mh = /^master_host:(.*)\r$/m.exec(text)?.[1];
  const mp = /^master_port:(\d+)\r$/m.exec(text)?.[1];
  let out = text;
  if (mh !== undefined && mp !== undefined) {
    const [h, p] = mapped(mh, Number(mp));
    out = out.replace(/^master_host:.*\r$/m, `master_host:${h}\r`).replace(/^master_port:\d+\r$/m, `master_port:${p}\r`);
  }
  out = out.replace(/^(slave\d+:)ip=([^,]*),port=(\d+)/gm, (_, head: string, ip: string, port: string) => {
    const [h, p] = mapped(ip, Number(port));
    return `${head}ip=${h},port=${p}`;
  });
  return withBody(v, out);
}

const same = (v: RespValue): RespValue => v;

// --- asking, both ways ------------------------------------------------------------------------

/** The bytes of the reply to `args` on `c` (the replies before it must have arrived). */
async function rawReply(c: RawClient, args: Arg[]): Promise<Buffer> {
  const k = c.frameEnds().length;
  await c.call(args);
  const ends = c.frameEnds();
  return Buffer.from(c.received().subarray(k === 0 ? 0 : ends[k - 1], ends[k]));
}

interface Pair {
  direct: RawClient;
  amb: RawClient;
  node: ClusterNodeServer;
}

async function pairFor(node: ClusterNodeServer, protocol: 2 | 3, ambPort?: number): Promise<Pair> {
  const direct = cleanup.add(await RawClient.connect(node.port, NODE_HOST), (c) => c.close());
  const amb = cleanup.add(await RawClient.connect(ambPort ?? listenerOf.get(node.id)!, HOST), (c) => c.close());
  if (protocol === 3) {
    for (const c of [direct, amb]) expect((await c.call(['HELLO', '3'])).type).toBe('map');
  }
  return { direct, amb, node };
}

/** The one value `bytes` hold, decoded by the test codec (throws unless the lengths add up to exactly the bytes). */
function decodeOne(bytes: Buffer): RespValue {
  const { values, consumed } = parseFrames(bytes);
  if (values.length !== 1 || consumed !== bytes.length) {
    throw new Error(`${values.length} values in ${consumed} of ${bytes.length} bytes: ${JSON.stringify(bytes.toString('latin1').slice(0, 300))}`);
  }
  return values[0]!;
}

/**
 * Sends `args` directly, through the ambassador, directly again, until the two direct replies are
 * the same bytes; then the ambassador's reply must be `expected(direct)`, decoded, and be
 * followed by a PONG. Returns both replies' bytes.
 */
async function compare(p: Pair, args: Arg[], expected: (direct: RespValue) => RespValue): Promise<{ direct: Buffer; amb: Buffer }> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const d1 = await rawReply(p.direct, args);
    const a = await rawReply(p.amb, args);
    const d2 = await rawReply(p.direct, args);
    expect(plain(await p.amb.call(['PING']))).toBe('PONG');
    if (!d1.equals(d2)) continue;
    const got = decodeOne(a);
    expect(got, `${args.join(' ')} on ${p.node.port}`).toEqual(expected(decodeOne(d1)));
    // The node addresses are all gone (the nodes are the only thing on 127.0.0.1).
    if (expected !== same) expect(a.toString('latin1')).not.toContain(NODE_HOST);
    return { direct: d1, amb: a };
  }
  throw new Error(`${args.join(' ')} on ${p.node.port}: the direct reply never held still`);
}

/** INFO's sections as name → text. */
function sections(text: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const part of text.split(/(?=^# )/m)) out.set(part.slice(2, part.indexOf('\r')), part);
  return out;
}

/**
 * INFO (default sections): a clock and counters change at every call (server_time_usec…), so the
 * sandwich is on the Replication section: it must be as directly but for the addresses; every
 * other section has the same fields, and no node address.
 */
async function compareInfoAll(p: Pair): Promise<void> {
  for (let attempt = 0; attempt < 40; attempt++) {
    const d1 = decodeOne(await rawReply(p.direct, ['INFO']));
    const got = decodeOne(await rawReply(p.amb, ['INFO']));
    const d2 = decodeOne(await rawReply(p.direct, ['INFO']));
    expect(plain(await p.amb.call(['PING']))).toBe('PONG');
    const [s1, sa, s2] = [d1, got, d2].map((v) => sections(bodyOf(v)));
    if (s1.get('Replication') !== s2.get('Replication')) continue;
    expect(got.type).toBe(d1.type);
    expect(sa.get('Replication')).toBe(bodyOf(infoText(withBody(d1, s1.get('Replication')!))));
    expect([...sa.keys()]).toEqual([...s1.keys()]);
    const fields = (t: string) => t.split('\r\n').map((l) => l.split(':')[0]);
    for (const [name, text] of s1) if (name !== 'Replication') expect(fields(sa.get(name)!), name).toEqual(fields(text));
    expect(bodyOf(got)).not.toContain(NODE_HOST);
    return;
  }
  throw new Error(`INFO on ${p.node.port}: the Replication section never held still`);
}

describe('the mapping of nodes to listeners', () => {
  it('every member has a listener of its own in the range, and CLUSTER MYID through it names that node', async () => {
    expect([...listenerOf.keys()].sort()).toEqual(cluster.members().map((n) => n.id).sort());
    const ports = [...listenerOf.values()];
    expect(new Set(ports).size).toBe(ports.length);
    for (const p of ports) {
      expect(p).toBeGreaterThanOrEqual(ca.range.from);
      expect(p).toBeLessThanOrEqual(ca.range.to);
    }
  });
});

for (const protocol of [2, 3] as const) {
  describe(`RESP${protocol}: replies that name nodes, as directly but for the addresses`, () => {
    it('CLUSTER SLOTS, SHARDS and NODES on every node', async () => {
      for (const node of cluster.live()) {
        const p = await pairFor(node, protocol);
        await compare(p, ['CLUSTER', 'SLOTS'], slots);
        await compare(p, ['CLUSTER', 'SHARDS'], shards);
        await compare(p, ['CLUSTER', 'NODES'], nodes);
      }
    });

    it('CLUSTER REPLICAS and CLUSTER SLAVES of every primary', async () => {
      for (const primary of await cluster.primaries()) {
        const p = await pairFor(primary, protocol);
        for (const sub of ['REPLICAS', 'SLAVES']) {
          const r = await compare(p, ['CLUSTER', sub, primary.id], nodeLines);
          expect(items(decodeOne(r.direct)).length).toBeGreaterThan(0);
        }
      }
    });

    it('ROLE and INFO replication on every primary and every replica (and INFO, all sections)', async () => {
      const replicas = await cluster.replicas();
      expect(replicas.length).toBeGreaterThan(0);
      for (const node of [...(await cluster.primaries()), ...replicas]) {
        const p = await pairFor(node, protocol);
        const r = await compare(p, ['ROLE'], role);
        expect(textOf(items(decodeOne(r.direct))[0]!)).toBe(replicas.includes(node) ? 'slave' : 'master');
        const i = await compare(p, ['INFO', 'replication'], infoText);
        expect(i.direct.toString('latin1')).toMatch(replicas.includes(node) ? /master_host:127\.0\.0\.1\r\n/ : /slave0:ip=127\.0\.0\.1,port=/);
        await compareInfoAll(p);
      }
    });

    it('through the entry: the replies of the primary the connection went to', async () => {
      const amb = cleanup.add(await RawClient.connect(ca.entry, HOST), (c) => c.close());
      if (protocol === 3) await amb.call(['HELLO', '3']);
      const node = cluster.byId(String(plain(await amb.call(['CLUSTER', 'MYID']))));
      const direct = cleanup.add(await RawClient.connect(node.port, NODE_HOST), (c) => c.close());
      if (protocol === 3) await direct.call(['HELLO', '3']);
      const p = { direct, amb, node };
      await compare(p, ['CLUSTER', 'SLOTS'], slots);
      await compare(p, ['CLUSTER', 'SHARDS'], shards);
      await compare(p, ['CLUSTER', 'NODES'], nodes);
      await compare(p, ['ROLE'], role);
      await compare(p, ['INFO', 'replication'], infoText);
    });

    it('-MOVED from a primary and from a replica, counted by the listener that passed it', async () => {
      const lines = await cluster.view();
      const [a, b] = await cluster.primaries();
      const key = keyServedBy(lines, b!, `moved${protocol}`);
      const delta = await baseline(ca.amb.metrics);
      const p = await pairFor(a!, protocol);
      const r = await compare(p, ['GET', key], redirect);
      expect(textOf(decodeOne(r.direct))).toBe(`MOVED ${keySlot(key)} ${NODE_HOST}:${b!.port}`);
      // A replica of b (without READONLY) sends its primary's keys to the primary.
      const replica = (await cluster.replicas()).find((x) => lines.find((l) => l.id === x.id)!.master === b!.id)!;
      const q = await pairFor(replica, protocol);
      await compare(q, ['GET', key], redirect);
      expect(await delta('redis_ambassador_cluster_redirects_total', { listener: `redis:${listenerOf.get(a!.id)}`, kind: 'moved' })).toBe(1);
      expect(await delta('redis_ambassador_cluster_redirects_total', { listener: `redis:${listenerOf.get(replica.id)}`, kind: 'moved' })).toBe(1);
      expect(await delta('redis_ambassador_cluster_redirects_total', { kind: 'ask' })).toBe(0);
    });

    it('-ASK during a slot migration (SETSLOT MIGRATING/IMPORTING), CLUSTER NODES showing it, and ASKING then the command at the target', async () => {
      const lines = await cluster.view();
      const [a, b] = await cluster.primaries();
      const key = keyServedBy(lines, a!, `ask${protocol}`);
      const slot = keySlot(key);
      const admin = async (node: ClusterNodeServer, ...args: string[]) => {
        const c = await RawClient.connect(node.port);
        const r = plain(await c.call(args));
        c.close();
        return r;
      };
      expect(await admin(b!, 'CLUSTER', 'SETSLOT', String(slot), 'IMPORTING', a!.id)).toBe('OK');
      expect(await admin(a!, 'CLUSTER', 'SETSLOT', String(slot), 'MIGRATING', b!.id)).toBe('OK');
      try {
        const delta = await baseline(ca.amb.metrics);
        const p = await pairFor(a!, protocol);
        const r = await compare(p, ['GET', key], redirect);
        expect(textOf(decodeOne(r.direct))).toBe(`ASK ${slot} ${NODE_HOST}:${b!.port}`);
        expect(textOf(decodeOne(r.amb))).toBe(`ASK ${slot} ${HOST}:${listenerOf.get(b!.id)}`);
        expect(await delta('redis_ambassador_cluster_redirects_total', { listener: `redis:${listenerOf.get(a!.id)}`, kind: 'ask' })).toBe(1);
        // The migration markers ([slot->-id], [slot-<-id]) survive the rewriting.
        const n = await compare(p, ['CLUSTER', 'NODES'], nodes);
        expect(n.amb.toString('latin1')).toContain(`[${slot}->-${b!.id}]`);
        const q = await pairFor(b!, protocol);
        expect((await compare(q, ['CLUSTER', 'NODES'], nodes)).amb.toString('latin1')).toContain(`[${slot}-<-${a!.id}]`);
        // Following the -ASK where it points: the ambassador's listener for b.
        const target = cleanup.add(await RawClient.connect(listenerOf.get(b!.id)!, HOST), (c) => c.close());
        expect(plain(await target.call(['ASKING']))).toBe('OK');
        expect(plain(await target.call(['SET', key, 'asked']))).toBe('OK');
        expect(plain(await target.call(['GET', key]))).toEqual({ error: `MOVED ${slot} ${HOST}:${listenerOf.get(a!.id)}` });
      } finally {
        await admin(a!, 'CLUSTER', 'SETSLOT', String(slot), 'STABLE');
        await admin(b!, 'CLUSTER', 'SETSLOT', String(slot), 'STABLE');
        await admin(b!, 'DEL', key);
      }
    });

    it('a pipeline of redirects and node-naming replies among others, in one write: each frame as directly but for the addresses', async () => {
      const lines = await cluster.view();
      const [a, b] = await cluster.primaries();
      const own = keyServedBy(lines, a!, `pipe${protocol}`);
      const other = keyServedBy(lines, b!, `pipe${protocol}`);
      const p = await pairFor(a!, protocol);
      expect(plain(await p.direct.call(['SET', own, 'v']))).toBe('OK');
      const batch: [Arg[], (v: RespValue) => RespValue][] = [
        [['GET', other], redirect],
        [['CLUSTER', 'SLOTS'], slots],
        [['GET', own], same],
        [['ROLE'], role],
        [['CLUSTER', 'SHARDS'], shards],
        [['GET', other], redirect],
        [['ECHO', 'after'], same],
      ];
      const bytes = Buffer.concat(batch.map(([args]) => cmd(...args)));
      const send = async (c: RawClient): Promise<RespValue[]> => {
        const k = c.frameEnds().length;
        await c.write(bytes);
        await c.waitForFrames(k + batch.length);
        return c.replies().slice(k);
      };
      for (let attempt = 0; ; attempt++) {
        const d1 = await send(p.direct);
        const got = await send(p.amb);
        const d2 = await send(p.direct);
        // Offsets (ROLE, SHARDS) may move meanwhile: only a batch that held still counts.
        if (JSON.stringify(plain({ type: 'array', value: d1 })) !== JSON.stringify(plain({ type: 'array', value: d2 })) && attempt < 40) continue;
        expect(got).toEqual(d1.map((v, i) => batch[i]![1](v)));
        break;
      }
    });
  });
}

describe('announced hostnames (cluster-announce-hostname on every node)', () => {
  const hostnameOf = (n: ClusterNodeServer) => `node-${n.port}.example`;
  const everywhere = async (cond: (text: string, n: ClusterNodeServer) => boolean): Promise<boolean> => {
    for (const n of cluster.live()) {
      const c = await RawClient.connect(n.port);
      const text = String(plain(await c.call(['CLUSTER', 'NODES'])));
      c.close();
      if (!cond(text, n)) return false;
    }
    return true;
  };
  beforeAll(async () => {
    for (const n of cluster.live()) {
      const c = await RawClient.connect(n.port);
      expect(plain(await c.call(['CONFIG', 'SET', 'cluster-announce-hostname', hostnameOf(n)]))).toBe('OK');
      c.close();
    }
    // Every node has heard every other's hostname.
    await waitUntil(() => everywhere((text) => cluster.live().every((m) => text.includes(`,${hostnameOf(m)} `))), { timeoutMs: 15_000, what: 'hostnames gossiped' });
  });
  afterAll(async () => {
    for (const n of cluster.live()) {
      const c = await RawClient.connect(n.port);
      await c.call(['CONFIG', 'SET', 'cluster-announce-hostname', '']);
      c.close();
    }
    await waitUntil(() => everywhere((text) => !text.includes('.example')), { timeoutMs: 15_000, what: 'hostnames gone' });
  });

  for (const protocol of [2, 3] as const) {
    it(`RESP${protocol}: CLUSTER NODES and SHARDS name the ambassador's host for each hostname`, async () => {
      for (const node of cluster.live()) {
        const p = await pairFor(node, protocol);
        expect((await compare(p, ['CLUSTER', 'NODES'], nodes)).direct.toString('latin1')).toContain(`,${hostnameOf(node)} `);
        expect((await compare(p, ['CLUSTER', 'SHARDS'], shards)).direct.toString('latin1')).toContain(hostnameOf(node));
      }
    });

    it(`RESP${protocol}: CLUSTER SLOTS too, in its metadata: no node's hostname reaches the client`, async () => {
      for (const node of cluster.live()) {
        const p = await pairFor(node, protocol);
        const r = await compare(p, ['CLUSTER', 'SLOTS'], slots);
        expect(r.direct.toString('latin1')).toContain('.example');
        expect(r.amb.toString('latin1')).not.toContain('.example');
      }
    });
  }
});

describe('replies that name nodes inside a transaction', () => {
  // EXEC's reply holds the replies of the commands queued: those that name nodes are rewritten
  // in place, as they would be alone, and the rest of the array stays as Redis sent it.
  it('MULTI, CLUSTER SLOTS, ROLE, EXEC: the replies in EXEC\'s name listeners, as they would alone', async () => {
    const [a] = await cluster.primaries();
    const p = await pairFor(a!, 2);
    for (const c of [p.direct, p.amb]) {
      expect(plain(await c.call(['MULTI']))).toBe('OK');
      expect(plain(await c.call(['ECHO', `${NODE_HOST}:${a!.port}`]))).toBe('QUEUED');
      expect(plain(await c.call(['CLUSTER', 'SLOTS']))).toBe('QUEUED');
      expect(plain(await c.call(['ROLE']))).toBe('QUEUED');
    }
    const direct = await p.direct.call(['EXEC']);
    const amb = await p.amb.call(['EXEC']);
    const [echoReply, slotsReply, roleReply] = items(direct);
    const got = items(amb);
    // Data that looks like an address is not Redis naming a node: it stays.
    expect(got[0]).toEqual(echoReply);
    expect(got[1]).toEqual(slots(slotsReply!));
    // ROLE's offsets may have moved between the two EXECs: its addresses are what counts.
    const addresses = (v: RespValue) => items(items(v)[2]!).map((r) => items(r).slice(0, 2).map(textOf).join(':'));
    expect(addresses(got[2]!)).toEqual(addresses(role(roleReply!)));
  });

  it('a transaction that names no node, pipelined beside one that does, goes through byte for byte', async () => {
    const [a] = await cluster.primaries();
    const p = await pairFor(a!, 2);
    const script: Arg[][] = [['MULTI'], ['ECHO', 'x'], ['EXEC'], ['MULTI'], ['CLUSTER', 'SLOTS'], ['EXEC'], ['MULTI'], ['PING'], ['EXEC']];
    // One write, so the ambassador meets the transactions in one chunk, as a pipelining client sends them.
    const pipelined = async (c: RawClient): Promise<RespValue[]> => {
      const before = c.replies().length;
      await c.write(Buffer.concat(script.map((args) => cmd(...args))));
      return (await c.waitForReplies(before + script.length)).slice(before);
    };
    const direct = await pipelined(p.direct);
    const amb = await pipelined(p.amb);
    for (const k of [0, 1, 2, 3, 4, 6, 7, 8]) expect(amb[k], `reply ${k}`).toEqual(direct[k]);
    expect(items(amb[5]!)[0]).toEqual(slots(items(direct[5]!)[0]!));
  });

  it('after such an EXEC, a message that looks like a CLUSTER NODES line goes through byte for byte', async () => {
    const [a] = await cluster.primaries();
    const p = await pairFor(a!, 2);
    expect(plain(await p.amb.call(['MULTI']))).toBe('OK');
    for (const args of [['ECHO', 'x'], ['ECHO', 'y'], ['CLUSTER', 'NODES']]) expect(plain(await p.amb.call(args))).toBe('QUEUED');
    expect(items(await p.amb.call(['EXEC']))).toHaveLength(3);
    await p.amb.call(['SUBSCRIBE', 'tx:ch']);
    // Position 2 of the array, where CLUSTER NODES stood in the EXEC: a message's payload.
    const line = `${a!.id} ${NODE_HOST}:${a!.port}@${a!.port + 10000} myself,master - 0 0 1 connected 0-5460`;
    const message = `*3\r\n$7\r\nmessage\r\n$5\r\ntx:ch\r\n$${line.length}\r\n${line}\r\n`;
    const before = p.amb.received().length;
    expect(plain(await p.direct.call(['PUBLISH', 'tx:ch', line]))).toBe(1);
    const got = await p.amb.waitForBytes((buf) => buf.length >= before + message.length, 'the message');
    expect(got.subarray(before).toString('latin1')).toBe(message);
  });
});

describe('replies that name no node go through byte for byte', () => {
  it('values and errors that look like addresses, cluster commands that name none, INFO sections without addresses, a large value', async () => {
    const lines = await cluster.view();
    const [a] = await cluster.primaries();
    const key = keyServedBy(lines, a!, 'bytes');
    const big = keyServedBy(lines, a!, 'big');
    const p = await pairFor(a!, 2);
    const lookalike = `MOVED 1 ${NODE_HOST}:${a!.port}\r\nmaster_host:${NODE_HOST}\r\nmaster_port:${a!.port}\n${a!.id} ${NODE_HOST}:${a!.port}@${a!.port + 10000} myself,master - 0 0 1 connected 0-5460`;
    expect(plain(await p.direct.call(['SET', key, lookalike]))).toBe('OK');
    expect(plain(await p.direct.call(['SET', big, Buffer.alloc(3 << 20, 'x')]))).toBe('OK');
    const commands: Arg[][] = [
      ['GET', key],
      ['ECHO', `-MOVED 3999 ${NODE_HOST}:${a!.port}`],
      ['HSET', `${key}-h`, 'x', '1'],
      ['GETRANGE', key, '0', '-1'],
      ['CLUSTER', 'MYID'],
      ['CLUSTER', 'KEYSLOT', key],
      ['CLUSTER', 'COUNTKEYSINSLOT', String(keySlot(key))],
      ['CLUSTER', 'GETKEYSINSLOT', String(keySlot(key)), '10'],
      ['CLUSTER', 'INFO'],
      ['INFO', 'cluster'],
      ['INFO', 'keyspace'],
      ['DBSIZE'],
      ['MSET', key, '1', `${key}-other`, '2'],
      ['NOSUCHCOMMAND'],
      ['CLUSTER', 'SETSLOT', '99999', 'STABLE'],
      ['GET', big],
    ];
    for (const args of commands) {
      for (let attempt = 0; ; attempt++) {
        const d1 = await rawReply(p.direct, args);
        const got = await rawReply(p.amb, args);
        const d2 = await rawReply(p.direct, args);
        if (!d1.equals(d2) && attempt < 40) continue;
        expect(got.equals(d1), `${String(args[0])} ${String(args[1] ?? '')}: ${JSON.stringify(got.toString('latin1').slice(0, 200))} vs ${JSON.stringify(d1.toString('latin1').slice(0, 200))}`).toBe(true);
        break;
      }
    }
    await p.direct.call(['DEL', key, `${key}-h`, big]);
  });
});
