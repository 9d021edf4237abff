/**
 * Redis Cluster through the ambassador: replies that name a node by address — -MOVED and -ASK,
 * CLUSTER SLOTS, CLUSTER SHARDS, CLUSTER NODES, CLUSTER REPLICAS/SLAVES, ROLE, INFO replication —
 * get, in place of each node's address, the address the client used to reach the ambassador and
 * the port of that node's listener. Everything else in them stays byte for byte; lengths are
 * recomputed by re-encoding. This is the one place where the ambassador alters a reply.
 */
import type { NodeNaming } from '../resp/commandTraits.js';
import type { QueuedNaming } from './transactionNamings.js';
import { decodeReply, encodeReply, fieldOf as field, textOf, withText, type ReplyValue } from '../resp/replyCodec.js';

/** Where the ambassador serves each cluster node. */
export interface NodePorts {
  /** The ambassador port of the node Redis calls `host:port` (made on first sight); null when none can be had. */
  portFor(host: string, port: number): number | null;
}

export type Redirect = 'moved' | 'ask';

export class ClusterRewriter {
  constructor(private readonly nodes: NodePorts) {}

  /**
   * `-MOVED <slot> <host>:<port>` / `-ASK …` with the node's listener in place of the node; null
   * for any other error (it goes on unchanged).
   */
  redirect(frame: Buffer, host: string): { bytes: Buffer; kind: Redirect } | null {
    const text = frame.toString('latin1', 1, frame.length - 2);
    const m = /^(MOVED|ASK) (\d+) (.*):(\d+)$/.exec(text);
    if (m === null) return null;
    const port = this.nodes.portFor(m[3]!, Number(m[4]));
    if (port === null) return null;
    return { bytes: Buffer.from(`-${m[1]} ${m[2]} ${host}:${port}\r\n`, 'latin1'), kind: m[1] === 'MOVED' ? 'moved' : 'ask' };
  }

  /** The reply of a command that names nodes, rewritten; an error reply is left alone. */
  rewrite(naming: NodeNaming, frame: Buffer, host: string): Buffer {
    if (frame[0] === 0x2d || frame[0] === 0x21) return frame;
    const v = decodeReply(frame);
    const out = this.rewriteValue(naming, v, host);
    return out === v ? frame : encodeReply(out);
  }

  /**
   * EXEC's reply: the replies at the positions given, rewritten as each would be alone (an error
   * in their place, or an aborted or WATCH-failed EXEC, is left alone).
   */
  rewriteTransaction(inside: readonly QueuedNaming[], frame: Buffer, host: string): Buffer {
    if (frame[0] !== 0x2a) return frame;
    const v = decodeReply(frame);
    if (v.type !== 'aggregate' || v.items === null) return frame;
    const items = [...v.items];
    let changed = false;
    for (const { at, naming } of inside) {
      const item = items[at];
      if (item === undefined || isError(item)) continue;
      const out = this.rewriteValue(naming, item, host);
      if (out !== item) {
        items[at] = out;
        changed = true;
      }
    }
    return changed ? encodeReply({ ...v, items }) : frame;
  }

  private rewriteValue(naming: NodeNaming, v: ReplyValue, host: string): ReplyValue {
    switch (naming) {
      case 'slots':
        return mapItems(v, (slot) => mapItems(slot, (node, k) => (k >= 2 ? this.slotsNode(node, host) : node)));
      case 'shards':
        return mapItems(v, (shard) => mapField(shard, 'nodes', (nodes) => mapItems(nodes, (node) => this.shardsNode(node, host))));
      case 'nodes':
        return mapText(v, (text) => text.split('\n').map((line) => this.nodesLine(line, host)).join('\n'));
      case 'node-lines':
        return mapItems(v, (line) => mapText(line, (text) => this.nodesLine(text, host)));
      case 'role':
        return this.role(v, host);
      case 'info':
        return mapText(v, (text) => this.info(text, host));
    }
  }

  /** [ip, port, id, metadata]: the first two, and a `hostname` in the metadata (cluster-announce-hostname). */
  private slotsNode(node: ReplyValue, host: string): ReplyValue {
    if (node.type !== 'aggregate' || node.items === null || node.items.length < 2) return node;
    const [ip, port, ...rest] = node.items;
    const mapped = this.mapped(textOf(ip), textOf(port));
    if (mapped === null) return node;
    // The metadata names the node's other address: `hostname`, or `ip` where the cluster prefers hostnames.
    const metadata = rest.map((item) => (item.type === 'aggregate' ? mapPairs(item, (key, value) => (key === 'hostname' || key === 'ip' ? withText(value, host) : value)) : item));
    return { ...node, items: [withText(ip!, host), withText(port!, String(mapped)), ...metadata] };
  }

  /** A map of id, port, tls-port, ip, endpoint, hostname, role, …: the addresses. */
  private shardsNode(node: ReplyValue, host: string): ReplyValue {
    // Looked up by the address the topology knows the node by: its endpoint, else its IP.
    const endpoint = textOf(field(node, 'endpoint'));
    const named = endpoint !== null && endpoint !== '' && endpoint !== '?' ? endpoint : textOf(field(node, 'ip'));
    const mapped = this.mapped(named, textOf(field(node, 'port')));
    if (mapped === null || node.type !== 'aggregate' || node.items === null) return node;
    const items: ReplyValue[] = [];
    for (let k = 0; k + 1 < node.items.length; k += 2) {
      const key = textOf(node.items[k]);
      const value = node.items[k + 1]!;
      // The ambassador's node listeners speak what its listeners speak; Redis's TLS port is not one of them.
      if (key === 'tls-port') continue;
      const replaced = key === 'port' ? withText(value, String(mapped)) : key === 'ip' || key === 'endpoint' || key === 'hostname' ? withText(value, host) : value;
      items.push(node.items[k]!, replaced);
    }
    return { ...node, items };
  }

  /** `<id> <ip:port@cport[,hostname]> <flags> …`: the address field (the cluster bus port is left). */
  private nodesLine(line: string, host: string): string {
    const fields = line.split(' ');
    const addr = fields[1];
    if (addr === undefined) return line;
    const m = /^(.*):(\d+)(@\d+)?(,.*)?$/.exec(addr);
    if (m === null || m[1] === '') return line;
    const mapped = this.nodes.portFor(m[1]!, Number(m[2]));
    if (mapped === null) return line;
    fields[1] = `${host}:${mapped}${m[3] ?? ''}${m[4] !== undefined ? `,${host}` : ''}`;
    return fields.join(' ');
  }

  /** master: [role, offset, [[ip, port, offset]…]]; slave: [role, ip, port, state, offset]. */
  private role(v: ReplyValue, host: string): ReplyValue {
    if (v.type !== 'aggregate' || v.items === null) return v;
    const role = textOf(v.items[0]);
    if (role === 'master') return mapItems(v, (item, k) => (k === 2 ? mapItems(item, (replica) => this.slotsNode(replica, host)) : item));
    if (role !== 'slave' || v.items.length < 3) return v;
    const mapped = this.mapped(textOf(v.items[1]), textOf(v.items[2]));
    if (mapped === null) return v;
    const items = [...v.items];
    items[1] = withText(items[1]!, host);
    items[2] = withText(items[2]!, String(mapped));
    return { ...v, items };
  }

  /** `master_host:`/`master_port:` and `slaveN:ip=…,port=…` lines. */
  private info(text: string, host: string): string {
    const masterHost = /^master_host:(.*?)\r?$/m.exec(text)?.[1];
    const masterPort = /^master_port:(\d+)\r?$/m.exec(text)?.[1];
    let out = text;
    if (masterHost !== undefined && masterPort !== undefined) {
      const mapped = this.nodes.portFor(masterHost, Number(masterPort));
      if (mapped !== null) {
        out = out.replace(/^master_host:.*?(\r?)$/m, `master_host:${host}$1`).replace(/^master_port:\d+(\r?)$/m, `master_port:${mapped}$1`);
      }
    }
    return out.replace(/^(slave\d+:ip=)([^,]*),port=(\d+)/gm, (whole, head: string, ip: string, port: string) => {
      const mapped = this.nodes.portFor(ip, Number(port));
      return mapped === null ? whole : `${head}${host},port=${mapped}`;
    });
  }

  private mapped(host: string | null, port: string | null): number | null {
    if (host === null || port === null || host === '' || !/^\d+$/.test(port)) return null;
    return this.nodes.portFor(host, Number(port));
  }
}

/** The aggregate with each element replaced (the same value when nothing changed). */
function mapItems(v: ReplyValue, f: (item: ReplyValue, k: number) => ReplyValue): ReplyValue {
  if (v.type !== 'aggregate' || v.items === null) return v;
  let changed = false;
  const items = v.items.map((item, k) => {
    const out = f(item, k);
    if (out !== item) changed = true;
    return out;
  });
  return changed ? { ...v, items } : v;
}

/** A string value's text replaced. */
function mapText(v: ReplyValue, f: (text: string) => string): ReplyValue {
  const text = textOf(v);
  if (text === null) return v;
  const out = f(text);
  return out === text ? v : withText(v, out);
}

function mapField(v: ReplyValue, key: string, f: (value: ReplyValue) => ReplyValue): ReplyValue {
  if (v.type !== 'aggregate' || v.items === null) return v;
  return mapItems(v, (item, k) => (k % 2 === 1 && textOf(v.items![k - 1]) === key ? f(item) : item));
}

/** A map (or RESP2's flat key-value array) with each value replaced by `f(key, value)`. */
function mapPairs(v: ReplyValue, f: (key: string | null, value: ReplyValue) => ReplyValue): ReplyValue {
  if (v.type !== 'aggregate' || v.items === null) return v;
  let changed = false;
  const items = v.items.map((item, k) => {
    if (k % 2 === 0) return item;
    const out = f(textOf(v.items![k - 1]), item);
    changed ||= out !== item;
    return out;
  });
  return changed ? { ...v, items } : v;
}

/** An error reply (`-…` or RESP3's blob error `!…`) inside an aggregate. */
function isError(v: ReplyValue): boolean {
  return v.byte === 0x2d || v.byte === 0x21;
}
