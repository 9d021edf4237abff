import type { AmbassadorConfig } from '../config/settings.js';
import { encodeCommand } from '../resp/commandCodec.js';

/**
 * The ambassador's own AUTH for every upstream connection (sessions, probes), from
 * AMBASSADOR_UPSTREAM_USERNAME / _PASSWORD, or null where none is set.
 */
export function upstreamAuth(config: AmbassadorConfig): Buffer | null {
  const creds = config.upstreamCredentials;
  if (creds === null) return null;
  return encodeCommand(creds.username === null ? ['AUTH', creds.password] : ['AUTH', creds.username, creds.password]);
}
