/**
 * ClusterRewriter against hand-written replies: -MOVED/-ASK and each reply that names nodes
 * (CLUSTER SLOTS, SHARDS, NODES, REPLICAS, ROLE, INFO; alone and inside EXEC) name the client's
 * host and the node's ambassador port instead, every other byte as Redis sent it. Expected
 * outputs are written out in full, and decoded again by an independent parser (redis-parser for
 * RESP2, the test kit's codec for RESP3), so a length left stale after rewriting cannot pass.
 */
import { describe, expect, it } from 'vitest';
import { ClusterRewriter, type NodePorts } from '../../../src/proxy/clusterRewriter.js';
import { decodeReply } from '../../../src/resp/replyCodec.js';
import { parseShards } from '../../../src/upstream/clusterTopology.js';
import { parseFrames, plain, resp2Parser } from '../../support/resp.js';

const HOST = 'amb.example';

/** The ambassador ports of the nodes this fake cluster has; every other address is unknown. */
const PORTS: Record<string, number> = {
  '10.0.0.1:6379': 7001,
  '10.0.0.2:6379': 7002,
  '10.0.0.4:6380': 7004,
  '::1:6381': 7009,
};

class FakeNodePorts implements NodePorts {
  readonly asked: string[] = [];
  portFor(host: string, port: number): number | null {
    this.asked.push(`${host}:${port}`);
    return PORTS[`${host}:${port}`] ?? null;
  }
}

function rewriter(): { rw: ClusterRewriter; nodes: FakeNodePorts } {
  const nodes = new FakeNodePorts();
  return { rw: new ClusterRewriter(nodes), nodes };
}

const b = (s: string): Buffer => Buffer.from(s, 'latin1');
const bulk = (s: string): string => `$${Buffer.byteLength(s, 'latin1')}\r\n${s}\r\n`;

/** The one RESP2 reply in `buf`, as redis-parser reads it (Buffers as strings). */
function oracle2(buf: Buffer): unknown {
  const out: unknown[] = [];
  resp2Parser((r) => out.push(r)).execute(buf);
  expect(out).toHaveLength(1);
  const text = (v: unknown): unknown => (Buffer.isBuffer(v) ? v.toString('latin1') : Array.isArray(v) ? v.map(text) : v instanceof Error ? { error: v.message } : v);
  return text(out[0]);
}

/** The one RESP2/RESP3 reply in `buf`, by the test kit's codec, which must use every byte. */
function oracle3(buf: Buffer): unknown {
  const { values, consumed } = parseFrames(buf);
  expect([values.length, consumed]).toEqual([1, buf.length]);
  return plain(values[0]!);
}

describe('ClusterRewriter.redirect', () => {
  it('-MOVED names the client host and the node listener', () => {
    const { rw } = rewriter();
    const out = rw.redirect(b('-MOVED 3999 10.0.0.2:6379\r\n'), HOST);
    expect(out?.kind).toBe('moved');
    expect(out?.bytes.toString('latin1')).toBe('-MOVED 3999 amb.example:7002\r\n');
  });

  it('-ASK likewise, with kind ask', () => {
    const { rw } = rewriter();
    const out = rw.redirect(b('-ASK 12182 10.0.0.1:6379\r\n'), HOST);
    expect(out?.kind).toBe('ask');
    expect(out?.bytes.toString('latin1')).toBe('-ASK 12182 amb.example:7001\r\n');
  });

  it('an IPv6 node address: the port is what follows the last colon', () => {
    const { rw, nodes } = rewriter();
    expect(rw.redirect(b('-MOVED 1 ::1:6381\r\n'), HOST)?.bytes.toString('latin1')).toBe('-MOVED 1 amb.example:7009\r\n');
    expect(nodes.asked).toEqual(['::1:6381']);
  });

  it('null for other errors and for a node without a port, which then go on unchanged', () => {
    const { rw, nodes } = rewriter();
    for (const e of ['-ERR unknown command\r\n', '-CLUSTERDOWN The cluster is down\r\n', '-TRYAGAIN Multiple keys request during rehashing of slot\r\n', '-MOVED abc 10.0.0.1:6379\r\n', '-MOVEDX 1 10.0.0.1:6379\r\n']) {
      expect(rw.redirect(b(e), HOST), e).toBeNull();
    }
    expect(nodes.asked).toEqual([]);
    expect(rw.redirect(b('-MOVED 3999 10.9.9.9:6379\r\n'), HOST)).toBeNull();
    expect(nodes.asked).toEqual(['10.9.9.9:6379']);
  });
});

describe('ClusterRewriter.rewrite: CLUSTER SLOTS', () => {
  // Redis 7: [from, to, [ip, port, id, metadata]…]; the metadata holds `hostname` when one is announced.
  const node = (ip: string, port: number, id: string, meta: string): string => `*4\r\n${bulk(ip)}:${port}\r\n${bulk(id)}${meta}`;
  const range = (from: number, to: number, ...nodes: string[]): string => `*${2 + nodes.length}\r\n:${from}\r\n:${to}\r\n${nodes.join('')}`;

  it('RESP2: ip and port of every known node, and the hostname in the metadata; the rest byte for byte', () => {
    const { rw } = rewriter();
    const reply =
      '*2\r\n' +
      range(0, 8191, node('10.0.0.1', 6379, 'aaa', '*0\r\n'), node('10.0.0.4', 6380, 'ddd', `*2\r\n${bulk('hostname')}${bulk('node4.internal')}`)) +
      // Before Redis 7 a node had no metadata.
      range(8192, 16383, `*3\r\n${bulk('10.0.0.2')}:6379\r\n${bulk('bbb')}`);
    const expected =
      '*2\r\n' +
      range(0, 8191, node(HOST, 7001, 'aaa', '*0\r\n'), node(HOST, 7004, 'ddd', `*2\r\n${bulk('hostname')}${bulk(HOST)}`)) +
      range(8192, 16383, `*3\r\n${bulk(HOST)}:7002\r\n${bulk('bbb')}`);
    const out = rw.rewrite('slots', b(reply), HOST);
    expect(out.toString('latin1')).toBe(expected);
    expect(oracle2(out)).toEqual([
      [0, 8191, [HOST, 7001, 'aaa', []], [HOST, 7004, 'ddd', ['hostname', HOST]]],
      [8192, 16383, [HOST, 7002, 'bbb']],
    ]);
  });

  it('RESP3: the metadata is a map; other metadata keys keep their values', () => {
    const { rw } = rewriter();
    const meta = (host: string): string => `%2\r\n${bulk('hostname')}${bulk(host)}${bulk('tls-port')}:6390\r\n`;
    const reply = '*1\r\n' + range(0, 16383, node('10.0.0.1', 6379, 'aaa', meta('node1.internal')));
    const out = rw.rewrite('slots', b(reply), HOST);
    expect(out.toString('latin1')).toBe('*1\r\n' + range(0, 16383, node(HOST, 7001, 'aaa', meta(HOST))));
    expect(oracle3(out)).toEqual([[0, 16383, [HOST, 7001, 'aaa', { hostname: HOST, 'tls-port': 6390 }]]]);
  });

  it('where the cluster prefers hostnames, the metadata names the node by `ip`: that is rewritten too', () => {
    const { rw } = rewriter();
    // cluster-preferred-endpoint-type hostname: the endpoint is the hostname, the IP moves to the metadata.
    PORTS['node1.internal:6379'] = 7001;
    try {
      const reply = '*1\r\n' + range(0, 16383, node('node1.internal', 6379, 'aaa', `*2\r\n${bulk('ip')}${bulk('10.0.0.1')}`));
      const out = rw.rewrite('slots', b(reply), HOST);
      expect(out.toString('latin1')).toBe('*1\r\n' + range(0, 16383, node(HOST, 7001, 'aaa', `*2\r\n${bulk('ip')}${bulk(HOST)}`)));
    } finally {
      delete PORTS['node1.internal:6379'];
    }
  });

  it('a node unknown to NodePorts keeps its address (and its hostname) beside one that is rewritten', () => {
    const { rw } = rewriter();
    const unknown = node('10.9.9.9', 6379, 'zzz', `*2\r\n${bulk('hostname')}${bulk('far.internal')}`);
    const out = rw.rewrite('slots', b('*1\r\n' + range(0, 16383, node('10.0.0.1', 6379, 'aaa', '*0\r\n'), unknown)), HOST);
    expect(out.toString('latin1')).toBe('*1\r\n' + range(0, 16383, node(HOST, 7001, 'aaa', '*0\r\n'), unknown));
  });

  it('a reply naming no known node is the very same Buffer', () => {
    const { rw } = rewriter();
    const frame = b('*1\r\n' + range(0, 16383, node('10.9.9.9', 6379, 'zzz', '*0\r\n')));
    expect(rw.rewrite('slots', frame, HOST)).toBe(frame);
  });

  it('an error reply is left alone without asking NodePorts', () => {
    const { rw, nodes } = rewriter();
    for (const e of ['-ERR This instance has cluster support disabled\r\n', '!22\r\nERR 10.0.0.1:6379 oops\r\n']) {
      const frame = b(e);
      expect(rw.rewrite('slots', frame, HOST)).toBe(frame);
      expect(rw.rewrite('nodes', frame, HOST)).toBe(frame);
    }
    expect(nodes.asked).toEqual([]);
  });
});

describe('ClusterRewriter.rewrite: CLUSTER SHARDS', () => {
  /** A node's fields as Redis 7 sends them, in order (a TLS cluster adds tls-port). */
  const fields = (ip: string, port: number, hostname: string | null, tls: boolean): [string, string][] => [
    ['id', bulk('aaa')],
    ['port', `:${port}\r\n`],
    ...(tls ? ([['tls-port', ':6390\r\n']] as [string, string][]) : []),
    ['ip', bulk(ip)],
    ['endpoint', bulk(ip)],
    ...(hostname !== null ? ([['hostname', bulk(hostname)]] as [string, string][]) : []),
    ['role', bulk('master')],
    ['replication-offset', ':72156\r\n'],
    ['health', bulk('online')],
  ];
  const flat = (f: [string, string][]): string => `*${f.length * 2}\r\n${f.map(([k, v]) => bulk(k) + v).join('')}`;
  const map = (f: [string, string][]): string => `%${f.length}\r\n${f.map(([k, v]) => bulk(k) + v).join('')}`;
  const shard2 = (...nodes: string[]): string => `*4\r\n${bulk('slots')}*2\r\n:0\r\n:16383\r\n${bulk('nodes')}*${nodes.length}\r\n${nodes.join('')}`;
  const shard3 = (...nodes: string[]): string => `%2\r\n${bulk('slots')}*2\r\n:0\r\n:16383\r\n${bulk('nodes')}*${nodes.length}\r\n${nodes.join('')}`;

  it('RESP2 flat arrays: port, ip, endpoint and hostname replaced, tls-port dropped, the array length recounted', () => {
    const { rw } = rewriter();
    const reply = '*1\r\n' + shard2(flat(fields('10.0.0.1', 6379, 'node1.internal', true)));
    const out = rw.rewrite('shards', b(reply), HOST);
    expect(out.toString('latin1')).toBe('*1\r\n' + shard2(flat(fields(HOST, 7001, HOST, false))));
    expect(oracle2(out)).toEqual([
      ['slots', [0, 16383], 'nodes', [['id', 'aaa', 'port', 7001, 'ip', HOST, 'endpoint', HOST, 'hostname', HOST, 'role', 'master', 'replication-offset', 72156, 'health', 'online']]],
    ]);
  });

  it('RESP3 maps: the same, the map size recounted', () => {
    const { rw } = rewriter();
    const reply = '*1\r\n' + shard3(map(fields('10.0.0.1', 6379, null, true)), map(fields('10.0.0.4', 6380, null, false)));
    const out = rw.rewrite('shards', b(reply), HOST);
    expect(out.toString('latin1')).toBe('*1\r\n' + shard3(map(fields(HOST, 7001, null, false)), map(fields(HOST, 7004, null, false))));
    const [shard] = oracle3(out) as [{ nodes: Record<string, unknown>[] }];
    expect(shard.nodes.map((n) => [n.ip, n.endpoint, n.port, 'tls-port' in n])).toEqual([
      [HOST, HOST, 7001, false],
      [HOST, HOST, 7004, false],
    ]);
  });

  it('a node is looked up by the address the topology knows it by: its endpoint (cluster-preferred-endpoint-type hostname)', () => {
    const node = (ip: string, endpoint: string, port: number): string =>
      flat([
        ['id', bulk('aaa')],
        ['port', `:${port}\r\n`],
        ['ip', bulk(ip)],
        ['endpoint', bulk(endpoint)],
        ['hostname', bulk(endpoint)],
        ['role', bulk('master')],
        ['health', bulk('online')],
      ]);
    const frame = b('*1\r\n' + shard2(node('10.0.0.7', 'node7.internal', 6379)));
    // The ports ClusterGroup hands out are keyed by host:port as parseShards reads the same reply.
    const known = new Map(parseShards(decodeReply(frame)).map((n, k) => [`${n.host}:${n.port}`, 7100 + k]));
    const asked: string[] = [];
    const rw = new ClusterRewriter({
      portFor: (host, port) => {
        asked.push(`${host}:${port}`);
        return known.get(`${host}:${port}`) ?? null;
      },
    });
    const out = rw.rewrite('shards', frame, HOST);
    expect(asked).toEqual([...known.keys()]);
    expect(out.toString('latin1')).toBe('*1\r\n' + shard2(node(HOST, HOST, 7100)));
  });

  it('an unknown node keeps every field, tls-port too; a reply of unknown nodes is the same Buffer', () => {
    const { rw } = rewriter();
    const unknown = flat(fields('10.9.9.9', 6379, 'far.internal', true));
    const out = rw.rewrite('shards', b('*2\r\n' + shard2(flat(fields('10.0.0.2', 6379, null, false))) + shard2(unknown)), HOST);
    expect(out.toString('latin1')).toBe('*2\r\n' + shard2(flat(fields(HOST, 7002, null, false))) + shard2(unknown));
    const frame = b('*1\r\n' + shard2(unknown));
    expect(rw.rewrite('shards', frame, HOST)).toBe(frame);
  });
});

describe('ClusterRewriter.rewrite: CLUSTER NODES and REPLICAS', () => {
  const NODES =
    'aaa 10.0.0.1:6379@16379,node1.internal myself,master - 0 0 1 connected 0-8191\n' +
    'bbb 10.0.0.2:6379@16379 master - 0 1700000000000 2 connected 8192-16383\n' +
    'ddd 10.0.0.4:6380@16380 slave aaa 0 1700000000000 1 connected\n' +
    'zzz 10.9.9.9:6379@16379 slave bbb 0 1700000000000 2 connected\n' +
    'yyy :0@0 master,noaddr - 1700000000000 1700000000000 0 disconnected\n';
  const REWRITTEN =
    'aaa amb.example:7001@16379,amb.example myself,master - 0 0 1 connected 0-8191\n' +
    'bbb amb.example:7002@16379 master - 0 1700000000000 2 connected 8192-16383\n' +
    'ddd amb.example:7004@16380 slave aaa 0 1700000000000 1 connected\n' +
    'zzz 10.9.9.9:6379@16379 slave bbb 0 1700000000000 2 connected\n' +
    'yyy :0@0 master,noaddr - 1700000000000 1700000000000 0 disconnected\n';

  it('a bulk string: each known address (hostname too) rewritten, the bus port kept; unknown and noaddr lines unchanged', () => {
    const { rw, nodes } = rewriter();
    const out = rw.rewrite('nodes', b(bulk(NODES)), HOST);
    expect(out.toString('latin1')).toBe(bulk(REWRITTEN));
    expect(oracle2(out)).toBe(REWRITTEN);
    // A node without an address is no node to ask about.
    expect(nodes.asked).toEqual(['10.0.0.1:6379', '10.0.0.2:6379', '10.0.0.4:6380', '10.9.9.9:6379']);
  });

  it('an address without @cport (pre-4.0 format) still gets rewritten', () => {
    const { rw } = rewriter();
    const out = rw.rewrite('nodes', b(bulk('aaa 10.0.0.1:6379 myself,master - 0 0 1 connected 0-16383\n')), HOST);
    expect(out.toString('latin1')).toBe(bulk('aaa amb.example:7001 myself,master - 0 0 1 connected 0-16383\n'));
  });

  it('RESP3 verbatim string: the txt: format prefix is kept and the length covers it', () => {
    const { rw } = rewriter();
    const verbatim = (text: string): string => `=${text.length + 4}\r\ntxt:${text}\r\n`;
    const out = rw.rewrite('nodes', b(verbatim(NODES)), HOST);
    expect(out.toString('latin1')).toBe(verbatim(REWRITTEN));
    expect(oracle3(out)).toBe(`txt:${REWRITTEN}`);
  });

  it('a text naming no known node is the same Buffer', () => {
    const { rw } = rewriter();
    const frame = b(bulk('zzz 10.9.9.9:6379@16379 myself,master - 0 0 1 connected 0-16383\n'));
    expect(rw.rewrite('nodes', frame, HOST)).toBe(frame);
  });

  it('node-lines (CLUSTER REPLICAS): each element is a line of its own', () => {
    const { rw } = rewriter();
    const known = 'ddd 10.0.0.4:6380@16380,replica4 slave aaa 0 1700000000000 1 connected';
    const unknown = 'zzz 10.9.9.9:6379@16379 slave aaa 0 1700000000000 1 connected';
    const out = rw.rewrite('node-lines', b(`*2\r\n${bulk(known)}${bulk(unknown)}`), HOST);
    expect(out.toString('latin1')).toBe(`*2\r\n${bulk('ddd amb.example:7004@16380,amb.example slave aaa 0 1700000000000 1 connected')}${bulk(unknown)}`);
    expect(oracle2(out)).toEqual(['ddd amb.example:7004@16380,amb.example slave aaa 0 1700000000000 1 connected', unknown]);
    const empty = b('*0\r\n');
    expect(rw.rewrite('node-lines', empty, HOST)).toBe(empty);
  });
});

describe('ClusterRewriter.rewrite: ROLE', () => {
  it('master: each replica [ip, port, offset] (port a bulk string, as Redis sends it); an unknown replica kept', () => {
    const { rw } = rewriter();
    const replica = (ip: string, port: string, offset: string): string => `*3\r\n${bulk(ip)}${bulk(port)}${bulk(offset)}`;
    const reply = `*3\r\n${bulk('master')}:3129659\r\n*2\r\n${replica('10.0.0.4', '6380', '3129242')}${replica('10.9.9.9', '6379', '3129543')}`;
    const out = rw.rewrite('role', b(reply), HOST);
    expect(out.toString('latin1')).toBe(`*3\r\n${bulk('master')}:3129659\r\n*2\r\n${replica(HOST, '7004', '3129242')}${replica('10.9.9.9', '6379', '3129543')}`);
    expect(oracle2(out)).toEqual(['master', 3129659, [[HOST, '7004', '3129242'], ['10.9.9.9', '6379', '3129543']]]);
  });

  it('master without replicas is the same Buffer', () => {
    const { rw } = rewriter();
    const frame = b(`*3\r\n${bulk('master')}:0\r\n*0\r\n`);
    expect(rw.rewrite('role', frame, HOST)).toBe(frame);
  });

  it('slave: [role, master ip, master port, state, offset], the port an integer', () => {
    const { rw } = rewriter();
    const reply = (ip: string, port: number): string => `*5\r\n${bulk('slave')}${bulk(ip)}:${port}\r\n${bulk('connected')}:3167038\r\n`;
    const out = rw.rewrite('role', b(reply('10.0.0.1', 6379)), HOST);
    expect(out.toString('latin1')).toBe(reply(HOST, 7001));
    expect(oracle2(out)).toEqual(['slave', HOST, 7001, 'connected', 3167038]);
    const unknown = b(reply('10.9.9.9', 6379));
    expect(rw.rewrite('role', unknown, HOST)).toBe(unknown);
  });

  it('a sentinel ROLE names no node: the same Buffer', () => {
    const { rw, nodes } = rewriter();
    const frame = b(`*2\r\n${bulk('sentinel')}*1\r\n${bulk('mymaster')}`);
    expect(rw.rewrite('role', frame, HOST)).toBe(frame);
    expect(nodes.asked).toEqual([]);
  });
});

describe('ClusterRewriter.rewrite: INFO', () => {
  it('a replica: master_host and master_port, CRLF line ends kept', () => {
    const { rw } = rewriter();
    const info = (host: string, port: number): string =>
      `# Replication\r\nrole:slave\r\nmaster_host:${host}\r\nmaster_port:${port}\r\nmaster_link_status:up\r\nslave_repl_offset:3167038\r\n`;
    const out = rw.rewrite('info', b(bulk(info('10.0.0.1', 6379))), HOST);
    expect(out.toString('latin1')).toBe(bulk(info(HOST, 7001)));
    expect(oracle2(out)).toBe(info(HOST, 7001));
  });

  it('a primary: each slaveN:ip=…,port=… of a known node; an unknown one kept', () => {
    const { rw } = rewriter();
    const info = (first: string, firstPort: number): string =>
      `# Replication\r\nrole:master\r\nconnected_slaves:2\r\nslave0:ip=${first},port=${firstPort},state=online,offset=3129242,lag=0\r\nslave1:ip=10.9.9.9,port=6379,state=online,offset=3129243,lag=1\r\nmaster_replid:8a1b\r\n`;
    const out = rw.rewrite('info', b(bulk(info('10.0.0.4', 6380))), HOST);
    expect(out.toString('latin1')).toBe(bulk(info(HOST, 7004)));
    expect(oracle2(out)).toBe(info(HOST, 7004));
  });

  it('sections without replication addresses, and a replica of an unknown master, are the same Buffer', () => {
    const { rw } = rewriter();
    for (const text of ['# Server\r\nredis_version:7.2.4\r\ntcp_port:6379\r\n', '# Replication\r\nrole:slave\r\nmaster_host:10.9.9.9\r\nmaster_port:6379\r\n']) {
      const frame = b(bulk(text));
      expect(rw.rewrite('info', frame, HOST)).toBe(frame);
    }
  });
});

describe('ClusterRewriter.rewriteTransaction', () => {
  const SLOTS = (ip: string, port: number): string => `*1\r\n*3\r\n:0\r\n:16383\r\n*3\r\n${bulk(ip)}:${port}\r\n${bulk('aaa')}`;
  const ROLE = (ip: string, port: number): string => `*5\r\n${bulk('slave')}${bulk(ip)}:${port}\r\n${bulk('connected')}:1\r\n`;
  const ERR = '-ERR This instance has cluster support disabled\r\n';

  it('rewrites the replies at the positions given, each as it would be alone; other replies byte for byte', () => {
    const { rw } = rewriter();
    const exec = `*5\r\n+OK\r\n${SLOTS('10.0.0.1', 6379)}${bulk('10.0.0.2:6379')}${ROLE('10.0.0.4', 6380)}:42\r\n`;
    const out = rw.rewriteTransaction(
      [
        { at: 1, naming: 'slots' },
        { at: 3, naming: 'role' },
      ],
      b(exec),
      HOST,
    );
    // Position 2 looks like an address but no naming covers it: it is a value, not a node.
    expect(out.toString('latin1')).toBe(`*5\r\n+OK\r\n${SLOTS(HOST, 7001)}${bulk('10.0.0.2:6379')}${ROLE(HOST, 7004)}:42\r\n`);
    expect(oracle2(out)).toEqual(['OK', [[0, 16383, [HOST, 7001, 'aaa']]], '10.0.0.2:6379', ['slave', HOST, 7004, 'connected', 1], 42]);
  });

  it('an error in a naming position is left, the others still rewritten', () => {
    const { rw } = rewriter();
    const out = rw.rewriteTransaction(
      [
        { at: 0, naming: 'slots' },
        { at: 1, naming: 'info' },
      ],
      b(`*2\r\n${ERR}${bulk('master_host:10.0.0.1\r\nmaster_port:6379\r\n')}`),
      HOST,
    );
    expect(out.toString('latin1')).toBe(`*2\r\n${ERR}${bulk(`master_host:${HOST}\r\nmaster_port:7001\r\n`)}`);
  });

  it('the same Buffer when nothing changes: errors only, unknown nodes, positions past the end', () => {
    const { rw } = rewriter();
    for (const [inside, exec] of [
      [[{ at: 0, naming: 'slots' }], `*1\r\n${ERR}`],
      [[{ at: 0, naming: 'role' }], `*1\r\n${ROLE('10.9.9.9', 6379)}`],
      [[{ at: 5, naming: 'slots' }], `*1\r\n+OK\r\n`],
      [[], `*1\r\n${SLOTS('10.0.0.1', 6379)}`],
    ] as const) {
      const frame = b(exec);
      expect(rw.rewriteTransaction(inside, frame, HOST), exec).toBe(frame);
    }
  });

  it('a WATCH-failed EXEC (null array, RESP2 and RESP3) and -EXECABORT are the same Buffer', () => {
    const { rw, nodes } = rewriter();
    for (const reply of ['*-1\r\n', '_\r\n', '-EXECABORT Transaction discarded because of previous errors.\r\n']) {
      const frame = b(reply);
      expect(rw.rewriteTransaction([{ at: 0, naming: 'slots' }], frame, HOST), reply).toBe(frame);
    }
    expect(nodes.asked).toEqual([]);
  });
});
