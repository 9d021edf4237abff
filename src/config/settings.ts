/**
 * The shape of a validated configuration and its value types. Everything after loadConfig trusts
 * these; nothing here imports runtime code, so any part of the ambassador may depend on it.
 */
import type { HostPort } from './address.js';
import type { ListenerSpec } from './listenerSpec.js';
import type { ClientUsers, SecretFiles, TlsListenSettings } from './secretSettings.js';

export type LogLevel = 'debug' | 'info' | 'warn' | 'error';

export const LOG_LEVELS: readonly LogLevel[] = ['debug', 'info', 'warn', 'error'];

/** What the request and reply scanners accept (redis-server's own limits by default). */
export interface Limits {
  /** proto-max-bulk-len: largest bulk string a client may send. */
  readonly maxBulkLength: number;
  /** Largest element count of a client's multibulk request. */
  readonly maxMultibulkLength: number;
  /** PROTO_INLINE_MAX_SIZE: longest inline command line, and longest length line. */
  readonly maxInlineLength: number;
  /**
   * Deepest nesting accepted in replies. Redis itself sets no bound on what it sends (a Lua table
   * that contains itself comes back ~8000 levels deep), so a proxy must not invent a small one:
   * the default is far beyond anything redis-server can produce and only keeps a hostile
   * upstream from growing the scanner's stack without end (9 bytes of state per level).
   */
  readonly maxReplyDepth: number;
}

export const REDIS_DEFAULT_LIMITS: Limits = {
  maxBulkLength: 512 * 1024 * 1024,
  // redis-server 7 refuses only counts above INT_MAX (1048576 was Redis 6's limit).
  maxMultibulkLength: 2147483647,
  maxInlineLength: 64 * 1024,
  maxReplyDepth: 1 << 24,
};

/** TLS toward rediss:// and tls:// upstreams. */
export interface TlsSettings {
  readonly ca: Buffer | null;
  readonly cert: Buffer | null;
  readonly key: Buffer | null;
  readonly servername: string | null;
  readonly verify: boolean;
}

/** AMBASSADOR_DENY_COMMANDS / AMBASSADOR_ALLOW_COMMANDS. */
export interface PolicySpec {
  readonly mode: 'deny' | 'allow';
  /** Lower-case command names (`config`, `config|set`), each checked against the command table. */
  readonly names: readonly string[];
  /** The variable it came from, named in the refusal. */
  readonly source: string;
}

export interface UpstreamCredentials {
  /** ACL user, or null for AUTH <password> (the default user). */
  readonly username: string | null;
  readonly password: Buffer;
}

/** What a client sees when its upstream connection is lost: kept open and moved, or closed (socat). */
export type UpstreamLoss = 'reconnect' | 'close';

/** One upstream connection per client (socat's way), or a few shared by many clients. */
export type UpstreamMode = 'dedicated' | 'shared';

/** AMBASSADOR_UPSTREAM_MODE=shared. */
export interface SharedSettings {
  /** Upstream connections each listener keeps for its clients. */
  readonly connections: number;
  /** A request frame larger than this pins its client (it streams on a connection of its own). */
  readonly maxFrameBytes: number;
  /** Replies buffered for a client that does not read beyond this close it (it cannot hold a shared connection back). */
  readonly clientOutputLimitBytes: number;
}

/** The proxy's slow log (AMBASSADOR_SLOWLOG_*). */
export interface SlowLogSettings {
  /** Commands whose reply takes this long or longer are entered; null: off. 0 enters every command. */
  readonly thresholdMs: number | null;
  /** Entries kept (the oldest go first). */
  readonly length: number;
  /** Keep (truncated, redacted) arguments: they are data, so the admin endpoint must stay private. */
  readonly args: boolean;
}

/** Redis Cluster listeners (<NAME>_PORT_<p>_CLUSTER). */
export interface ClusterSettings {
  /** AMBASSADOR_ANNOUNCE_HOST: the host clients are told for every node; null: the address they used. */
  readonly announceHost: string | null;
  /** How often the topology is read again besides -MOVED and a node's failing health check. */
  readonly refreshMs: number;
}

export interface AmbassadorConfig {
  readonly listeners: readonly ListenerSpec[];
  /** Address the listeners bind; null means every interface, IPv6 and IPv4. */
  readonly bindHost: string | null;
  /** Admin HTTP endpoint, or null when turned off. */
  readonly admin: HostPort | null;
  readonly logLevel: LogLevel;
  readonly metrics: boolean;
  readonly connectTimeoutMs: number;
  readonly connectWindowMs: number;
  readonly shutdownTimeoutMs: number;
  readonly maxPendingCommands: number;
  readonly healthIntervalMs: number;
  readonly healthTimeoutMs: number;
  readonly healthFailures: number;
  readonly onUpstreamLoss: UpstreamLoss;
  readonly upstreamMode: UpstreamMode;
  readonly shared: SharedSettings;
  readonly cluster: ClusterSettings;
  /** How long commands wait for an upstream while none is available. */
  readonly unavailableWaitMs: number;
  readonly sentinelPollMs: number;
  /** Processes carrying traffic; above 1 a primary forks them and aggregates their metrics. */
  readonly workers: number;
  readonly limits: Limits;
  /** Clients beyond this many get -ERR max number of clients reached, as from Redis. */
  readonly maxClients: number;
  /** Close a client idle this long (0: never), like Redis's timeout. */
  readonly idleTimeoutMs: number;
  /** TCP keepalive probe delay on both sides (0: off), like Redis's tcp-keepalive. */
  readonly tcpKeepaliveMs: number;
  /** The password clients must AUTH with before anything else, or null. Never logged. */
  readonly requirepass: Buffer | null;
  /** The ambassador authenticates every upstream connection itself with these, or null. Never logged. */
  readonly upstreamCredentials: UpstreamCredentials | null;
  readonly policy: PolicySpec | null;
  /** For rediss:// / tls:// upstreams. */
  readonly tls: TlsSettings;
  /** Sentinel-named masters are reached with TLS. */
  readonly tlsMasters: boolean;
  /** TLS on (some of) the listeners, or null when every listener is plain TCP. */
  readonly tlsListen: TlsListenSettings | null;
  /** Verified client certificate identity → the ACL user its upstream connections AUTH as, or null. Never logged. */
  readonly clientUsers: ClientUsers | null;
  /** Where every reloadable secret lives, re-read on SIGHUP and when a file changes. */
  readonly secretFiles: SecretFiles;
  /** Watch the secret files (and their directories) for changes. */
  readonly watchSecrets: boolean;
  readonly slowLog: SlowLogSettings;
  /** AMBASSADOR_HOTKEYS: count commands per key (top keys on /hotkeys). */
  readonly hotKeys: boolean;
  /** Remarks for the log once it exists (e.g. ignored _ENV_ copies). */
  readonly notes: readonly string[];
}
