/**
 * The socat ambassador's contract, kept byte for byte:
 *   env | grep _TCP= | sed 's/.*_PORT_\([0-9]*\)_TCP=tcp:\/\/\(.*\):\(.*\)/socat TCP4-LISTEN:\1,fork,reuseaddr TCP4:\2:\3 \&/'
 * Every `NAME=value` line matching ^.*_PORT_([0-9]+)_TCP=tcp://(.*):(.*)$ is a listener on \1
 * forwarding to \2:\3. Where socat silently misbehaves (two targets for one port, a bad port, an
 * empty host, nothing to listen on) this module throws a ConfigError naming the variable.
 */
import { ConfigError } from './configError.js';
import { parsePort, parseUpstreamUrl, type UpstreamAddress } from './address.js';

export interface ListenerSpec {
  /** `<name>:<port>`, e.g. `redis:6379` for REDIS_PORT_6379_TCP; the `listener` metric label. */
  readonly name: string;
  readonly port: number;
  readonly upstreams: readonly UpstreamAddress[];
  /** The variable or flag it came from, for logs and errors. */
  readonly source: string;
}

export interface ContractResult {
  readonly listeners: ListenerSpec[];
  /** Things worth a log line that are not errors (ignored `_ENV_` copies). */
  readonly notes: string[];
}

const LINE = /^(.*)_PORT_([0-9]+)_TCP=tcp:\/\/(.*):(.*)$/;
// A name that claims to be a listener even when its value is malformed.
const NAME = /^(.*)_PORT_([0-9]+)_TCP$/;
const EXAMPLE = 'REDIS_PORT_6379_TCP=tcp://10.0.0.5:6379';

interface Candidate {
  readonly variable: string;
  readonly prefix: string;
  readonly port: number;
  readonly upstream: UpstreamAddress;
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
      const upstream = parseUpstreamUrl(`tcp://${m[3]}:${m[4]}`, key);
      candidates.push({ variable: key, prefix: m[1]!, port, upstream, copied });
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
    for (const c of chosen.slice(1)) {
      if (c.upstream.url !== first.upstream.url) {
        throw new ConfigError(
          `port ${port} is defined twice with different targets: ${first.variable}=${first.upstream.url} ` +
            `and ${c.variable}=${c.upstream.url}; keep one of them (socat would have silently used whichever started first)`,
        );
      }
    }
    listeners.push({
      name: `${first.prefix.toLowerCase()}:${port}`,
      port,
      upstreams: [first.upstream],
      source: first.variable,
    });
  }
  return { listeners, notes };
}
