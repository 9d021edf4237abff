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

/** Where a listener's traffic goes: one address, candidates probed with ROLE, or Sentinel's master. */
export type ListenerTarget =
  | { readonly kind: 'static'; readonly upstream: UpstreamAddress }
  | { readonly kind: 'candidates'; readonly candidates: readonly UpstreamAddress[] }
  | { readonly kind: 'sentinel'; readonly sentinel: SentinelSpec };

export interface ListenerSpec {
  /** `<name>:<port>`, e.g. `redis:6379` for REDIS_PORT_6379_TCP; the `listener` metric label. */
  readonly name: string;
  readonly port: number;
  readonly target: ListenerTarget;
  /** The variable or flag it came from, for logs and errors. */
  readonly source: string;
}

export const SENTINEL_EXAMPLE = 'REDIS_PORT_6379_SENTINEL=mymaster@10.0.0.7:26379,10.0.0.8:26379';

/** Every upstream address a target names (none for Sentinel, whose master is found at run time). */
export function targetAddresses(t: ListenerTarget): readonly UpstreamAddress[] {
  return t.kind === 'static' ? [t.upstream] : t.kind === 'candidates' ? t.candidates : [];
}

/** How the target reads in logs: the URL, the candidate list, or `sentinel name@host:port,…`. */
export function describeTarget(t: ListenerTarget): string {
  if (t.kind === 'sentinel') return `sentinel ${t.sentinel.masterName}@${t.sentinel.sentinels.map((s) => formatHostPort(s.host, s.port)).join(',')}`;
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

/** A flag's target: an upstream list as above, or `sentinel://<master-name>@host:port[,…]`. */
export function parseTarget(value: string, what: string): ListenerTarget {
  if (value.startsWith('sentinel://')) return parseSentinel(value.slice('sentinel://'.length), what);
  return parseUpstreamList(value, what);
}
