/**
 * What a Redis Cluster looks like now: its nodes (id, address, primary or replica, health) and
 * which primaries hold slots, read with CLUSTER SHARDS from any node that answers — the nodes
 * already known first, then the seeds. Read again every interval, and soon (at most every
 * 200 ms) when a client was redirected (-MOVED) or a node's health check failed.
 */
import type { HostPort, UpstreamAddress } from '../config/address.js';
import { formatUpstream } from '../config/address.js';
import type { TlsSettings } from '../config/settings.js';
import type { Logger } from '../log/logger.js';
import { encodeCommand } from '../resp/commandCodec.js';
import { decodeReply, fieldOf as field, itemsOf as items, textOf, type ReplyValue } from '../resp/replyCodec.js';
import { queryUpstream } from './upstreamQuery.js';

const SHARDS = encodeCommand(['CLUSTER', 'SHARDS']);
const SOON_MS = 200;
export const SLOTS = 16384;

export interface ClusterNode {
  readonly id: string;
  /** The address the cluster announces for it (what -MOVED and CLUSTER SLOTS name). */
  readonly host: string;
  readonly port: number;
  /**
   * Its other names in replies: the IP where the cluster prefers hostnames for endpoints, the
   * hostname where it prefers IPs (CLUSTER NODES names the IP whatever the preference).
   */
  readonly aliases: readonly string[];
  readonly primary: boolean;
  /** CLUSTER SHARDS' health: online (not failed, not loading). */
  readonly online: boolean;
  /** Slots it serves (primaries). */
  readonly slots: number;
}

export interface TopologySettings {
  readonly tls: TlsSettings | null;
  /** The ambassador's own AUTH as it is now (asked at every query), or null. */
  readonly preamble: () => Buffer | null;
  readonly timeoutMs: number;
  readonly refreshMs: number;
}

export interface TopologyEvents {
  /** The nodes as the cluster describes them now. */
  onNodes(nodes: readonly ClusterNode[]): void;
  /** A seed answered that it is no cluster node (its error text). */
  onNotACluster(seed: string, error: string): void;
}

export class ClusterTopology {
  private nodes: readonly ClusterNode[] = [];
  private timer: NodeJS.Timeout | null = null;
  private soon: NodeJS.Timeout | null = null;
  private reading = false;
  private lastRead = 0;
  private stopped = false;

  constructor(
    private readonly seeds: readonly HostPort[],
    private readonly settings: TopologySettings,
    private readonly log: Logger,
    private readonly listener: string,
    private readonly events: TopologyEvents,
  ) {}

  get current(): readonly ClusterNode[] {
    return this.nodes;
  }

  /** Slots served by primaries that are online. */
  get covered(): number {
    return this.nodes.reduce((n, node) => n + (node.primary && node.online ? node.slots : 0), 0);
  }

  start(): void {
    this.read('start');
    this.timer = setInterval(() => this.read('interval'), this.settings.refreshMs);
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearInterval(this.timer);
    if (this.soon) clearTimeout(this.soon);
  }

  /** Read the topology again soon (a -MOVED, a node down), at most every 200 ms. */
  refreshSoon(reason: string): void {
    if (this.soon !== null || this.stopped) return;
    const wait = Math.max(0, this.lastRead + SOON_MS - Date.now());
    this.soon = setTimeout(() => {
      this.soon = null;
      this.read(reason);
    }, wait);
  }

  private read(reason: string): void {
    if (this.reading || this.stopped) return;
    this.reading = true;
    this.lastRead = Date.now();
    const known = this.nodes.filter((n) => n.online).map((n) => ({ host: n.host, port: n.port }));
    const tries = [...known, ...this.seeds.filter((s) => !known.some((k) => k.host === s.host && k.port === s.port))];
    this.tryAt(tries, 0, reason, null);
  }

  /**
   * Asks `tries[k]`, and the next one when it cannot answer. A view in which no slot is served
   * (a node just removed with del-node is reset and sees a cluster of its own, empty) is taken
   * only when no other node answers with slots and none was known before: `slotless` keeps the
   * first such view meanwhile.
   */
  private tryAt(tries: readonly HostPort[], k: number, reason: string, slotless: ClusterNode[] | null): void {
    if (this.stopped) return;
    if (k >= tries.length) {
      this.reading = false;
      // Never trade a view with slots for one without: the slotless node is more likely the odd one out.
      if (slotless !== null && !this.nodes.some((n) => n.primary && n.slots > 0)) return this.take(slotless);
      if (slotless !== null) {
        this.log.warn('cluster topology kept: the only nodes that answered CLUSTER SHARDS see no slot served', { listener: this.listener, reason, tried: tries.length });
        return;
      }
      this.log.warn('cluster topology unknown: no node answered CLUSTER SHARDS', { listener: this.listener, reason, tried: tries.length });
      return;
    }
    const at = tries[k]!;
    const addr: UpstreamAddress = { host: at.host, port: at.port, tls: false, url: formatUpstream(at.host, at.port) };
    const preamble = this.settings.preamble();
    const commands = preamble === null ? [SHARDS] : [preamble, SHARDS];
    queryUpstream(addr, this.settings.tls, commands, this.settings.timeoutMs, (err, replies) => {
      const reply = replies[replies.length - 1];
      if (err !== null || reply === undefined) return this.tryAt(tries, k + 1, reason, slotless);
      if (reply.error !== null) {
        this.events.onNotACluster(`${at.host}:${at.port}`, reply.bytes.toString('latin1', 1).trim());
        return this.tryAt(tries, k + 1, reason, slotless);
      }
      const nodes = parseShards(decodeReply(reply.bytes));
      if (!nodes.some((n) => n.primary && n.slots > 0)) {
        this.log.debug('cluster node sees no slot served; asking the next', { listener: this.listener, node: addr.url });
        return this.tryAt(tries, k + 1, reason, slotless ?? nodes);
      }
      this.reading = false;
      this.take(nodes);
    });
  }

  private take(nodes: ClusterNode[]): void {
    this.nodes = nodes;
    this.events.onNodes(nodes);
  }
}

/** CLUSTER SHARDS: shards of { slots: [from, to, …], nodes: [{ id, port, ip, endpoint, role, health, … }] }. */
export function parseShards(v: ReplyValue): ClusterNode[] {
  const out: ClusterNode[] = [];
  for (const shard of items(v)) {
    const ranges = items(field(shard, 'slots')).map((x) => Number(textOf(x)));
    let slots = 0;
    for (let k = 0; k + 1 < ranges.length; k += 2) slots += ranges[k + 1]! - ranges[k]! + 1;
    for (const node of items(field(shard, 'nodes'))) {
      const endpoint = textOf(field(node, 'endpoint'));
      const ip = textOf(field(node, 'ip'));
      const host = endpoint !== null && endpoint !== '' && endpoint !== '?' ? endpoint : (ip ?? '');
      const primary = textOf(field(node, 'role')) === 'master';
      const aliases = [ip, textOf(field(node, 'hostname'))].filter((a): a is string => a !== null && a !== '' && a !== '?' && a !== host);
      out.push({
        id: textOf(field(node, 'id')) ?? '',
        host,
        port: Number(textOf(field(node, 'port'))),
        aliases,
        primary,
        online: textOf(field(node, 'health')) === 'online',
        slots: primary ? slots : 0,
      });
    }
  }
  return out.filter((n) => n.id !== '' && n.host !== '' && Number.isInteger(n.port) && n.port > 0);
}
