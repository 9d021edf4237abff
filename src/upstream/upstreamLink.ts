/**
 * A session's upstream side, as the session sees it: bytes go in, reply bytes and a few events
 * come back. DedicatedLink is a connection of the session's own (as socat has it); SharedLink a
 * place on one of a few connections many sessions share (AMBASSADOR_UPSTREAM_MODE=shared).
 */
import type { RespScanner } from '../resp/scanner.js';
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
  /** A shared link: bytes of the reply to this session's oldest command in flight, as they arrive. */
  onSharedReplyBytes(bytes: Buffer): void;
  /** A shared link: that reply is complete; `frame` describes it, `now` is when it arrived. */
  onSharedReplyEnd(frame: RespScanner, now: number): void;
  /** The client's socket holds `bytes` it has not taken yet (0: it drained). */
  onClientBacklog(bytes: number): void;
}

export interface UpstreamLink {
  /** Whether send() must be given whole request frames (a shared connection carries many clients'). */
  readonly wholeFrames: boolean;
  /** Starts the first connection. */
  start(): void;
  /** Client bytes toward the upstream (whole frames where wholeFrames), held while no connection is ready. */
  send(bytes: Buffer): void;
  /** The restoring commands were all answered: what was held may go. */
  restored(): void;
  /** True between a connection's arrival and `restored()`. */
  readonly restoring: boolean;
  /** Connected and restored: client bytes go straight to the upstream. */
  readonly live: boolean;
  /**
   * The client reads too slowly: `buffered` bytes wait in its socket. A dedicated link stops
   * reading replies; a shared one cannot (others share the connection) and tells the session.
   */
  pauseReplies(buffered: number): void;
  resumeReplies(): void;
  /** Part of a reply has reached the client and its end has not: the stream cannot resume elsewhere. */
  readonly replyCut: boolean;
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
