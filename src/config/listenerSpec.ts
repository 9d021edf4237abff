/**
 * A listener of the contract and where its traffic goes, and the one parser for those targets,
 * used whether they come from the environment or from --listen/--upstream flags.
 */
import { ConfigError } from './configError.js';
import { formatHostPort, parseHostPort, parseUpstreamUrl, type HostPort, type UpstreamAddress } from './address.js';

export interface SentinelSpec {
  readonly masterName: string;
  readonly sentinels: readonly HostPort[];
}

export interface PortRange {
  readonly from: number;
  readonly to: number;
}

/** A Redis Cluster: where to discover it, and the ports its nodes' listeners take. */
export interface ClusterSpec {
  readonly seeds: readonly HostPort[];
  /** Null: AMBASSADOR_CLUSTER_PORTS, or the ports just above the listener's (loadConfig decides). */
  readonly ports: PortRange | null;
}

/**
 * Where a listener's traffic goes: one address, candidates probed with ROLE, Sentinel's master, or
 * a Redis Cluster (every node a listener of its own).
 */
export type ListenerTarget =
  | { readonly kind: 'static'; readonly upstream: UpstreamAddress }
  | { readonly kind: 'candidates'; readonly candidates: readonly UpstreamAddress[] }
  | { readonly kind: 'sentinel'; readonly sentinel: SentinelSpec }
  | { readonly kind: 'cluster'; readonly cluster: ClusterSpec };

export interface ListenerSpec {
  /** `<name>:<port>`, e.g. `redis:6379` for REDIS_PORT_6379_TCP; the `listener` metric label. */
  readonly name: string;
  readonly port: number;
  readonly target: ListenerTarget;
  /** The variable or flag it came from, for logs and errors. */
  readonly source: string;
}

export const SENTINEL_EXAMPLE = 'REDIS_PORT_6379_SENTINEL=mymaster@10.0.0.7:26379,10.0.0.8:26379';
export const CLUSTER_EXAMPLE = 'REDIS_PORT_7000_CLUSTER=10.0.0.7:7000,10.0.0.8:7000';

/** Every upstream address a target names (none for Sentinel, whose master is found at run time). */
export function targetAddresses(t: ListenerTarget): readonly UpstreamAddress[] {
  return t.kind === 'static' ? [t.upstream] : t.kind === 'candidates' ? t.candidates : [];
}

/** How the target reads in logs: the URL, the candidate list, `sentinel name@host:port,…` or `cluster host:port,…`. */
export function describeTarget(t: ListenerTarget): string {
  if (t.kind === 'sentinel') return `sentinel ${t.sentinel.masterName}@${t.sentinel.sentinels.map((s) => formatHostPort(s.host, s.port)).join(',')}`;
  if (t.kind === 'cluster') return `cluster ${t.cluster.seeds.map((s) => formatHostPort(s.host, s.port)).join(',')}`;
  return targetAddresses(t)
    .map((u) => u.url)
    .join(',');
}

/**
 * `tcp://a:1` or the candidate list `tcp://a:1,tcp://b:2` (each a socat-style URL, rediss:// and
 * tls:// for TLS): one address is a static target, several are candidates.
 */
export function parseUpstreamList(value: string, what: string): ListenerTarget {
  const parts = /,(tcp|rediss|tls):\/\//.test(value) ? value.split(',') : [value];
  const list = parts.map((p) => parseUpstreamUrl(p.trim(), what));
  const seen = new Set<string>();
  for (const u of list) {
    if (seen.has(u.url)) throw new ConfigError(`${what}: ${u.url} appears twice in the candidate list`);
    seen.add(u.url);
  }
  return list.length === 1 ? { kind: 'static', upstream: list[0]! } : { kind: 'candidates', candidates: list };
}

/** `<master-name>@host:port[,host:port…]`. */
export function parseSentinel(value: string, what: string): ListenerTarget {
  const at = value.indexOf('@');
  const masterName = at < 0 ? '' : value.slice(0, at);
  if (masterName === '' || at === value.length - 1) {
    throw new ConfigError(`${what}: "${value}" is not <master-name>@<host>:<port>[,<host>:<port>...] (for example ${SENTINEL_EXAMPLE})`);
  }
  const sentinels = value
    .slice(at + 1)
    .split(',')
    .map((hp) => {
      const addr = parseHostPort(hp.trim(), what, '');
      if (addr.host === '') throw new ConfigError(`${what}: sentinel "${hp}" has an empty host (for example ${SENTINEL_EXAMPLE})`);
      return addr;
    });
  return { kind: 'sentinel', sentinel: { masterName, sentinels } };
}

/** `host:port[,host:port…]`: seed nodes of a Redis Cluster. */
export function parseClusterSeeds(value: string, what: string, ports: PortRange | null): ListenerTarget {
  const seeds = value.split(',').map((hp) => {
    const addr = parseHostPort(hp.trim(), what, '');
    if (addr.host === '') throw new ConfigError(`${what}: seed "${hp}" has an empty host (for example ${CLUSTER_EXAMPLE})`);
    return addr;
  });
  return { kind: 'cluster', cluster: { seeds, ports } };
}

/** `from-to`, both 1-65535, from ≤ to. */
export function parsePortRange(value: string, what: string): PortRange {
  const m = /^\s*(\d{1,5})\s*-\s*(\d{1,5})\s*$/.exec(value);
  const from = m ? Number(m[1]) : NaN;
  const to = m ? Number(m[2]) : NaN;
  if (!m || from < 1 || to > 65535 || from > to) {
    throw new ConfigError(`${what}: "${value}" is not a port range <from>-<to> within 1-65535 (for example 7001-7099)`);
  }
  return { from, to };
}

/** A flag's target: an upstream list as above, `sentinel://<master-name>@host:port[,…]` or `cluster://host:port[,…]`. */
export function parseTarget(value: string, what: string): ListenerTarget {
  if (value.startsWith('sentinel://')) return parseSentinel(value.slice('sentinel://'.length), what);
  if (value.startsWith('cluster://')) return parseClusterSeeds(value.slice('cluster://'.length), what, null);
  return parseUpstreamList(value, what);
}
