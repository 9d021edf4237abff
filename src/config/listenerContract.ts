/**
 * The socat ambassador's contract, kept byte for byte:
 *   env | grep _TCP= | sed 's/.*_PORT_\([0-9]*\)_TCP=tcp:\/\/\(.*\):\(.*\)/socat TCP4-LISTEN:\1,fork,reuseaddr TCP4:\2:\3 \&/'
 * Every `NAME=value` line matching ^.*_PORT_([0-9]+)_TCP=tcp://(.*):(.*)$ is a listener on \1
 * forwarding to \2:\3. Where socat silently misbehaves (two targets for one port, a bad port, an
 * empty host, nothing to listen on) this module throws a ConfigError naming the variable.
 *
 * Extensions that socat never accepted, so no working socat setup changes meaning:
 * - `tcp://a:6379,tcp://b:6379`: an ordered candidate list; traffic goes to the one whose ROLE
 *   is master.
 * - `<NAME>_PORT_<p>_SENTINEL=<master-name>@host:26379,host2:26379`: Sentinel names the master.
 */
import { ConfigError } from './configError.js';
import { parseHostPort, parsePort, parseUpstreamUrl, type HostPort, type UpstreamAddress } from './address.js';

export interface SentinelSpec {
  readonly masterName: string;
  readonly sentinels: readonly HostPort[];
}

export interface ListenerSpec {
  /** `<name>:<port>`, e.g. `redis:6379` for REDIS_PORT_6379_TCP; the `listener` metric label. */
  readonly name: string;
  readonly port: number;
  /** One address, or an ordered candidate list (failover by role); empty when Sentinel decides. */
  readonly upstreams: readonly UpstreamAddress[];
  readonly sentinel: SentinelSpec | null;
  /** The variable or flag it came from, for logs and errors. */
  readonly source: string;
}

export interface ContractResult {
  readonly listeners: ListenerSpec[];
  /** Things worth a log line that are not errors (ignored `_ENV_` copies). */
  readonly notes: string[];
}

const LINE = /^(.*)_PORT_([0-9]+)_TCP=(?:tcp|rediss|tls):\/\/(.*):(.*)$/;
// A name that claims to be a listener even when its value is malformed.
const NAME = /^(.*)_PORT_([0-9]+)_TCP$/;
const EXAMPLE = 'REDIS_PORT_6379_TCP=tcp://10.0.0.5:6379';
const SENTINEL_NAME = /^(.*)_PORT_([0-9]+)_SENTINEL$/;
const SENTINEL_EXAMPLE = 'REDIS_PORT_6379_SENTINEL=mymaster@10.0.0.7:26379,10.0.0.8:26379';

interface Candidate {
  readonly variable: string;
  readonly prefix: string;
  readonly port: number;
  readonly upstreams: readonly UpstreamAddress[];
  readonly copied: boolean;
}

/** `tcp://a:1` or the candidate list `tcp://a:1,tcp://b:2`. */
function parseUpstreams(value: string, what: string): UpstreamAddress[] {
  const parts = /,(tcp|rediss|tls):\/\//.test(value) ? value.split(',') : [value];
  const list = parts.map((p) => parseUpstreamUrl(p.trim(), what));
  const seen = new Set<string>();
  for (const u of list) {
    if (seen.has(u.url)) throw new ConfigError(`${what}: ${u.url} appears twice in the candidate list`);
    seen.add(u.url);
  }
  return list;
}

export function parseSentinel(value: string, what: string): SentinelSpec {
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
  return { masterName, sentinels };
}

export function listenersFromEnv(env: NodeJS.ProcessEnv): ContractResult {
  const candidates: Candidate[] = [];
  const notes: string[] = [];
  for (const [key, value] of Object.entries(env)) {
    if (value === undefined) continue;
    const line = `${key}=${value}`;
    const m = LINE.exec(line);
    const named = NAME.exec(key);
    if (!m && !named) continue;
    const copied = key.includes('_ENV_');
    try {
      if (!m) {
        // socat would hand this line to sh; we say what is wrong instead.
        parseUpstreamUrl(value, key); // throws with the precise reason
        continue;
      }
      const port = parsePort(m[2]!);
      if (port === null) {
        throw new ConfigError(`${key}: listen port "${m[2]}" is not 1-65535 (for example ${EXAMPLE})`);
      }
      const upstreams = parseUpstreams(value, key);
      candidates.push({ variable: key, prefix: m[1]!, port, upstreams, copied });
    } catch (err) {
      // A linked container's copied environment is not the user's to fix here.
      if (!copied || !(err instanceof ConfigError)) throw err;
      notes.push(`${key} ignored: ${err.message.slice(key.length + 2)}`);
    }
  }

  const byPort = new Map<number, Candidate[]>();
  for (const c of candidates) {
    const list = byPort.get(c.port) ?? [];
    list.push(c);
    byPort.set(c.port, list);
  }

  const listeners: ListenerSpec[] = [];
  for (const port of [...byPort.keys()].sort((a, b) => a - b)) {
    const all = byPort.get(port)!;
    const direct = all.filter((c) => !c.copied);
    let chosen = all;
    if (direct.length > 0) {
      for (const c of all) {
        if (c.copied) {
          notes.push(
            `${c.variable} ignored: port ${port} is defined by ${direct[0]!.variable}; ` +
              'variables containing _ENV_ are copies of a linked container\'s environment',
          );
        }
      }
      chosen = direct;
    }
    const first = chosen[0]!;
    const urls = (c: Candidate): string => c.upstreams.map((u) => u.url).join(',');
    for (const c of chosen.slice(1)) {
      if (urls(c) !== urls(first)) {
        throw new ConfigError(
          `port ${port} is defined twice with different targets: ${first.variable}=${urls(first)} ` +
            `and ${c.variable}=${urls(c)}; keep one of them (socat would have silently used whichever started first)`,
        );
      }
    }
    listeners.push({
      name: `${first.prefix.toLowerCase()}:${port}`,
      port,
      upstreams: first.upstreams,
      sentinel: null,
      source: first.variable,
    });
  }
  return { listeners: withSentinels(env, listeners, notes), notes };
}

/** Adds the `_SENTINEL` variables: a new listener, or Sentinel taking over an existing port. */
function withSentinels(env: NodeJS.ProcessEnv, listeners: ListenerSpec[], notes: string[]): ListenerSpec[] {
  const out = [...listeners];
  for (const [key, value] of Object.entries(env)) {
    const m = SENTINEL_NAME.exec(key);
    if (!m || value === undefined || key.includes('_ENV_')) continue;
    const port = parsePort(m[2]!);
    if (port === null) throw new ConfigError(`${key}: listen port "${m[2]}" is not 1-65535 (for example ${SENTINEL_EXAMPLE})`);
    const sentinel = parseSentinel(value, key);
    const i = out.findIndex((l) => l.port === port);
    if (i >= 0) {
      const existing = out[i]!;
      if (existing.sentinel !== null) throw new ConfigError(`port ${port} has two Sentinel variables: ${existing.source} and ${key}`);
      notes.push(`${existing.source} ignored for port ${port}: ${key} asks Sentinel for the master`);
      out[i] = { ...existing, upstreams: [], sentinel, source: key };
    } else {
      out.push({ name: `${m[1]!.toLowerCase()}:${port}`, port, upstreams: [], sentinel, source: key });
    }
  }
  return out.sort((a, b) => a.port - b.port);
}
