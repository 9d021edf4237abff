/** `--listen [NAME:]PORT --upstream TARGET` pairs, read with the same target parser as the environment. */
import { ConfigError } from './configError.js';
import { parsePort } from './address.js';
import { parseTarget, type ListenerSpec } from './listenerSpec.js';

export function listenersFromFlags(pairs: readonly { listen: string; upstream: string | undefined }[]): ListenerSpec[] {
  const seen = new Map<number, string>();
  return pairs.map(({ listen, upstream }) => {
    const m = /^(?:([A-Za-z0-9_.-]+):)?([^:]*)$/.exec(listen);
    const port = m ? parsePort(m[2]!) : null;
    if (!m || port === null) {
      throw new ConfigError(`--listen "${listen}": expected [NAME:]PORT with PORT 1-65535 (for example --listen 6379 or --listen cache:6380)`);
    }
    if (upstream === undefined) {
      throw new ConfigError(`--listen ${listen} has no --upstream after it (for example --listen 6379 --upstream tcp://10.0.0.5:6379)`);
    }
    const previous = seen.get(port);
    if (previous !== undefined) throw new ConfigError(`--listen ${listen}: port ${port} is already used by --listen ${previous}`);
    seen.set(port, listen);
    const name = (m[1] ?? 'redis').toLowerCase();
    return { name: `${name}:${port}`, port, target: parseTarget(upstream, `--upstream for --listen ${listen}`), source: `--listen ${listen}` };
  });
}
