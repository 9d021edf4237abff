/** The errors the ambassador answers a client with when its upstream is lost or unreachable. */

/** The reply to a command in flight when the upstream connection was lost: it may or may not have run. */
export const CONNECTION_LOST = 'ERR upstream connection lost; command may or may not have run';

/** The only errors a client may get while the upstream is lost or unreachable (never a silent retry). */
export const UPSTREAM_ERROR = /^ERR upstream (connection lost; command may or may not have run|.* unreachable)/;
