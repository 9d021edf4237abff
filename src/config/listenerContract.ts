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
 * - `<NAME>_PORT_<p>_CLUSTER=host:7000,host2:7000`: the seeds of a Redis Cluster; every node gets a
 *   listener of its own from a port range (`<NAME>_PORT_<p>_CLUSTER_PORTS=from-to`).
 */
import { ConfigError } from './configError.js';
import { parsePort, parseUpstreamUrl } from './address.js';
import {
  CLUSTER_EXAMPLE,
  describeTarget,
  parseClusterSeeds,
  parsePortRange,
  parseSentinel,
  parseUpstreamList,
  SENTINEL_EXAMPLE,
  type ListenerSpec,
  type ListenerTarget,
  type PortRange,
} from './listenerSpec.js';

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
const CLUSTER_NAME = /^(.*)_PORT_([0-9]+)_CLUSTER$/;

interface Candidate {
  readonly variable: string;
  readonly prefix: string;
  readonly port: number;
  readonly target: ListenerTarget;
  readonly copied: boolean;
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
      candidates.push({ variable: key, prefix: m[1]!, port, target: parseUpstreamList(value, key), copied });
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
    const urls = (c: Candidate): string => describeTarget(c.target);
    for (const c of chosen.slice(1)) {
      if (urls(c) !== urls(first)) {
        throw new ConfigError(
          `port ${port} is defined twice with different targets: ${first.variable}=${urls(first)} ` +
            `and ${c.variable}=${urls(c)}; keep one of them (socat would have silently used whichever started first)`,
        );
      }
    }
    listeners.push({ name: `${first.prefix.toLowerCase()}:${port}`, port, target: first.target, source: first.variable });
  }
  return { listeners: withSentinels(env, listeners, notes), notes };
}

/**
 * Adds the `_SENTINEL` and `_CLUSTER` variables: a new listener, or one taking over the port a
 * `_TCP` variable named (only one of them may).
 */
function withSentinels(env: NodeJS.ProcessEnv, listeners: ListenerSpec[], notes: string[]): ListenerSpec[] {
  const out = [...listeners];
  const takers: Record<'sentinel' | 'cluster', { re: RegExp; example: string; parse: (v: string, what: string) => ListenerTarget; says: string }> = {
    sentinel: { re: SENTINEL_NAME, example: SENTINEL_EXAMPLE, parse: parseSentinel, says: 'asks Sentinel for the master' },
    cluster: { re: CLUSTER_NAME, example: CLUSTER_EXAMPLE, parse: (v, what) => parseClusterSeeds(v, what, clusterPorts(env, what)), says: 'fronts a Redis Cluster' },
  };
  for (const [key, value] of Object.entries(env)) {
    for (const t of Object.values(takers)) {
      const m = t.re.exec(key);
      if (!m || value === undefined || key.includes('_ENV_')) continue;
      const port = parsePort(m[2]!);
      if (port === null) throw new ConfigError(`${key}: listen port "${m[2]}" is not 1-65535 (for example ${t.example})`);
      const target = t.parse(value, key);
      const i = out.findIndex((l) => l.port === port);
      if (i < 0) {
        out.push({ name: `${m[1]!.toLowerCase()}:${port}`, port, target, source: key });
        continue;
      }
      const existing = out[i]!;
      if (existing.target.kind === 'sentinel' || existing.target.kind === 'cluster') {
        throw new ConfigError(`port ${port} is defined by both ${existing.source} and ${key}; keep one`);
      }
      notes.push(`${existing.source} ignored for port ${port}: ${key} ${t.says}`);
      out[i] = { ...existing, target, source: key };
    }
  }
  return out.sort((a, b) => a.port - b.port);
}

/** `<NAME>_PORT_<p>_CLUSTER_PORTS=from-to` beside a `_CLUSTER` variable, if set. */
function clusterPorts(env: NodeJS.ProcessEnv, clusterVariable: string): PortRange | null {
  const name = `${clusterVariable}_PORTS`;
  const v = env[name];
  return v === undefined || v === '' ? null : parsePortRange(v, name);
}
