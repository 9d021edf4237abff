import type { UpstreamLink } from '../upstream/upstreamLink.js';

/**
 * Where the paths find the session's upstream link: it can change once, when a client on a
 * shared connection is pinned to a connection of its own.
 */
export interface LinkHolder {
  readonly link: UpstreamLink;
}
