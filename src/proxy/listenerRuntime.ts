/** What every session of one listener shares: its name, log, counters and settings. */
import type { Limits, UpstreamLoss } from '../config/settings.js';
import type { Logger } from '../log/logger.js';
import type { ListenerStats } from '../metrics/listenerStats.js';
import type { HotKeys } from '../observe/hotKeys.js';
import type { SlowLog } from '../observe/slowLog.js';
import type { SessionAuth } from '../secrets/sessionAuth.js';
import type { SharedPool } from '../upstream/sharedPool.js';
import type { ClusterRewriter, Redirect } from './clusterRewriter.js';

/** A listener in front of a Redis Cluster node: replies naming nodes are rewritten. */
export interface ClusterRuntime {
  readonly rewriter: ClusterRewriter;
  /** AMBASSADOR_ANNOUNCE_HOST, or null: the address the client used to reach the ambassador. */
  readonly announceHost: string | null;
  /** A -MOVED or -ASK went by (rewritten): count it; a MOVED also means the slot map changed. */
  onRedirect(kind: Redirect): void;
}

export interface SessionSettings {
  readonly limits: Limits;
  /** Commands in flight per client before reading from it pauses. */
  readonly maxPendingCommands: number;
  /** Close clients idle this long (0: never); pub/sub clients and blocked commands are not idle. */
  readonly idleTimeoutMs: number;
  readonly tcpKeepaliveMs: number;
  readonly onUpstreamLoss: UpstreamLoss;
  /** How long a new client's first upstream connection is retried. */
  readonly connectWindowMs: number;
  /** After a loss, how long commands wait for an upstream. */
  readonly unavailableWaitMs: number;
  /** Shared mode: a frame larger than this pins its client. */
  readonly sharedMaxFrameBytes: number;
  /** Shared mode: replies a client leaves unread beyond this close it. */
  readonly clientOutputLimitBytes: number;
}

export interface ListenerRuntime {
  /** The `listener` label: `redis:6379`. */
  readonly name: string;
  readonly log: Logger;
  /** Connection-level counters; always kept. */
  readonly stats: ListenerStats;
  /** Per-command counting (commands, latency, errors, bytes); off with AMBASSADOR_METRICS=off. */
  readonly perCommand: boolean;
  readonly settings: SessionSettings;
  /** How a session authenticates its upstream connections unless its client certificate says otherwise; null: it does not. */
  readonly upstreamAuth: SessionAuth | null;
  /** AMBASSADOR_UPSTREAM_MODE=shared: the listener's shared connections; null in dedicated mode. */
  readonly sharedPool: SharedPool | null;
  /** The process's slow log (AMBASSADOR_SLOWLOG_MS), or null when it is off. */
  readonly slowLog: SlowLog | null;
  /** The listener's hot keys (AMBASSADOR_HOTKEYS=on), or null. */
  readonly hotKeys: HotKeys | null;
  /** A Redis Cluster listener's rewriting, or null. */
  readonly cluster: ClusterRuntime | null;
}
