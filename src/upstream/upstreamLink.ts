/**
 * A session's upstream side, as the session sees it: bytes go in, reply bytes and a few events
 * come back. DedicatedLink is the one implementation today (a connection of the session's own,
 * as socat has); a pooled connection shared by many sessions can be another.
 */
import type { ReplayCommand } from './replayCommand.js';
import type { UpstreamUnreachable } from './connector.js';

/** What the link tells its session. */
export interface LinkEvents {
  /** Bytes from the upstream, in order. */
  onUpstreamData(chunk: Buffer): void;
  /**
   * A connection is up. Returns the commands that restore it (the ambassador's AUTH, the
   * client's replayed state), which are written first; the link then holds the client's bytes
   * until `restored()`.
   */
  onUpstreamConnected(reconnect: boolean): readonly ReplayCommand[];
  /**
   * The connection ended: `closed_by_server` when Redis closed it on purpose (the same server
   * still answers; `detail` is the evidence), `lost` for a failure (`detail` says what happened).
   */
  onUpstreamGone(how: 'closed_by_server' | 'lost', detail: string): void;
  /** No connection could be made within the window. `first`: the session never had one. */
  onUpstreamUnreachable(err: UpstreamUnreachable, first: boolean): void;
  /** Whether the link takes more bytes now; false until it can (the client's reading pauses). */
  onLinkWritable(writable: boolean): void;
  /** Whether a close may be Redis's decision and is worth asking about (else it is a loss at once). */
  mayBeClosedOnPurpose(): boolean;
}

export interface UpstreamLink {
  /** Starts the first connection. */
  start(): void;
  /** Client bytes toward the upstream, held while no connection is ready for them. */
  send(bytes: Buffer): void;
  /** The restoring commands were all answered: what was held may go. */
  restored(): void;
  /** True between a connection's arrival and `restored()`. */
  readonly restoring: boolean;
  /** Connected and restored: client bytes go straight to the upstream. */
  readonly live: boolean;
  /** Stops reading replies (the client reads too slowly), and resumes. */
  pauseReplies(): void;
  resumeReplies(): void;
  /** The client half-closed: the upstream finishes its replies, then closes. */
  end(): void;
  /** A new connection, after a loss. */
  reconnect(): void;
  /** Tries again a little later after a window without any connection, the client staying. */
  retryLater(): void;
  /** The master moved: a connection elsewhere is abandoned for one to the new master. */
  retarget(reason: string): void;
  /** Drops bytes held for a connection (their commands were answered with errors). */
  discardHeld(): void;
  /** Where it is connected (or was last), for logs. */
  readonly url: string | null;
  close(): void;
}
