/**
 * Every metric the ambassador exports, declared once: name, type, help and labels. Nothing else
 * in the code names a metric; the README's metrics table and the Grafana dashboard follow this.
 */
export type MetricType = 'counter' | 'gauge' | 'histogram';

export interface MetricDef {
  readonly name: string;
  readonly type: MetricType;
  readonly help: string;
  readonly labels: readonly string[];
  /**
   * How AMBASSADOR_WORKERS processes combine: "sum" (default) for counts every worker adds to;
   * "min"/"max" for facts every worker observes on its own (each worker health-checks and
   * follows failovers itself, so summing would multiply them).
   */
  readonly aggregator?: 'min' | 'max';
}

export const METRIC_PREFIX = 'redis_ambassador_';

/** Latency buckets in seconds: 50 µs to 10 s; prom-client's defaults start at 5 ms. */
export const DURATION_BUCKETS: readonly number[] = [
  0.00005, 0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 10,
];

/** Reply size buckets in bytes: 64 B to 64 MB by factors of 4 ("who fetches 50 MB values" is one query). */
export const REPLY_SIZE_BUCKETS: readonly number[] = [
  64, 256, 1024, 4096, 16384, 65536, 262144, 1048576, 4194304, 16777216, 67108864,
];

export const METRICS = {
  commands: {
    name: 'redis_ambassador_commands_total',
    type: 'counter',
    help: 'Commands sent upstream, by command (lower-case; names outside the Redis command table count as "unknown").',
    labels: ['listener', 'cmd'],
  },
  commandDuration: {
    name: 'redis_ambassador_command_duration_seconds',
    type: 'histogram',
    help: "Time from a command's last byte leaving for the upstream to its reply's last byte arriving. Blocking commands are not observed here.",
    labels: ['listener', 'cmd'],
  },
  blockingDuration: {
    name: 'redis_ambassador_blocking_command_duration_seconds',
    type: 'histogram',
    help: 'Same as command_duration_seconds for blocking commands (BLPOP, BRPOP, BLMOVE, BZPOPMIN, XREAD/XREADGROUP with BLOCK, WAIT, ...), whose time is mostly waiting.',
    labels: ['listener', 'cmd'],
  },
  replySize: {
    name: 'redis_ambassador_reply_size_bytes',
    type: 'histogram',
    help: "Size of each command's reply as it left the upstream, RESP framing included (a SUBSCRIBE a b c: its last confirmation's).",
    labels: ['listener', 'cmd'],
  },
  slowCommands: {
    name: 'redis_ambassador_slow_commands_total',
    type: 'counter',
    help: 'Commands whose reply took AMBASSADOR_SLOWLOG_MS or longer (command written to the upstream to reply read, blocking commands excepted); each is an entry of /slowlog.',
    labels: ['listener', 'cmd'],
  },
  commandErrors: {
    name: 'redis_ambassador_command_errors_total',
    type: 'counter',
    help: 'Error replies, by command and by the error code (first word of the error: ERR, WRONGTYPE, MOVED, ...; unlisted codes count as "other").',
    labels: ['listener', 'cmd', 'error'],
  },
  commandsRejected: {
    name: 'redis_ambassador_commands_rejected_total',
    type: 'counter',
    help: 'Commands the ambassador answered itself instead of sending them upstream: reason="policy" (AMBASSADOR_DENY_COMMANDS / AMBASSADOR_ALLOW_COMMANDS) or "noauth" (AMBASSADOR_REQUIREPASS not satisfied).',
    labels: ['listener', 'cmd', 'reason'],
  },
  pushMessages: {
    name: 'redis_ambassador_push_messages_total',
    type: 'counter',
    help: 'Unsolicited frames passed to clients: pub/sub messages, MONITOR lines, RESP3 pushes (kind = message, pmessage, smessage, monitor, invalidate, other).',
    labels: ['listener', 'kind'],
  },
  clientConnections: {
    name: 'redis_ambassador_client_connections',
    type: 'gauge',
    help: 'Client connections open now.',
    labels: ['listener'],
  },
  clientConnectionsMax: {
    name: 'redis_ambassador_client_connections_max',
    type: 'gauge',
    help: 'AMBASSADOR_MAX_CLIENTS: client connections the listener accepts before refusing new ones (with AMBASSADOR_WORKERS, each worker has this many: the sum is the capacity).',
    labels: ['listener'],
  },
  clientConnectionsTotal: {
    name: 'redis_ambassador_client_connections_total',
    type: 'counter',
    help: 'Client connections accepted.',
    labels: ['listener'],
  },
  clientConnectionsRefused: {
    name: 'redis_ambassador_client_connections_refused_total',
    type: 'counter',
    help: 'Client connections refused with -ERR max number of clients reached (AMBASSADOR_MAX_CLIENTS).',
    labels: ['listener'],
  },
  bytes: {
    name: 'redis_ambassador_bytes_total',
    type: 'counter',
    help: 'Bytes relayed: direction="in" from clients, direction="out" to clients.',
    labels: ['listener', 'direction'],
  },
  protocolErrors: {
    name: 'redis_ambassador_protocol_errors_total',
    type: 'counter',
    help: 'Streams that were not valid RESP: side="client" (answered -ERR Protocol error and closed) or side="upstream".',
    labels: ['listener', 'side'],
  },
  upstreamUp: {
    name: 'redis_ambassador_upstream_up',
    type: 'gauge',
    help: '1 when the upstream answers the health check PING, else 0.',
    labels: ['listener', 'upstream'],
    aggregator: 'min',
  },
  masterKnown: {
    name: 'redis_ambassador_master_known',
    type: 'gauge',
    help: '1 while the listener has a master that answers its health check (a candidate list: one that says ROLE master; Sentinel: the master named, answering PING), else 0: what /readyz says per listener. kind = static, candidates or sentinel.',
    labels: ['listener', 'kind'],
    aggregator: 'min',
  },
  upstreamConnectFailures: {
    name: 'redis_ambassador_upstream_connect_failures_total',
    type: 'counter',
    help: 'Failed attempts to connect a client session to its upstream.',
    labels: ['listener', 'upstream'],
  },
  upstreamReconnects: {
    name: 'redis_ambassador_upstream_reconnects_total',
    type: 'counter',
    help: 'Client sessions moved to a new upstream connection after the old one was lost.',
    labels: ['listener'],
  },
  upstreamDisconnects: {
    name: 'redis_ambassador_upstream_disconnects_total',
    type: 'counter',
    help: 'Client sessions whose upstream connection ended unasked: cause="closed_by_server" (Redis closed it on purpose, e.g. CLIENT KILL or timeout, and the same server still answers: the client was closed too) or "lost" (a failure: the session reconnected, or closed where it could not).',
    labels: ['listener', 'cause'],
  },
  replayFailures: {
    name: 'redis_ambassador_replay_failures_total',
    type: 'counter',
    help: "Upstream connections on which the upstream refused a command restoring the client's state after a reconnect (AUTH, HELLO, SELECT, CLIENT SETNAME, READONLY, SUBSCRIBE) or the ambassador's own AUTH, or where the client's certificate no longer maps to the ACL user it was accepted as (AMBASSADOR_TLS_CLIENT_USERS_FILE changed); the client was closed (the log line names the command or the identity).",
    labels: ['listener'],
  },
  sharedConnections: {
    name: 'redis_ambassador_shared_connections',
    type: 'gauge',
    help: 'AMBASSADOR_UPSTREAM_MODE=shared: the listener\'s shared upstream connections that are up now (0 in dedicated mode).',
    labels: ['listener'],
    aggregator: 'max',
  },
  pinnedClients: {
    name: 'redis_ambassador_pinned_clients_total',
    type: 'counter',
    help: 'AMBASSADOR_UPSTREAM_MODE=shared: clients moved to an upstream connection of their own, by what moved them (select, auth, hello, transaction, pubsub, blocking, monitor, replication, client, readonly, reset, asking, script-debug, large, unknown).',
    labels: ['listener', 'reason'],
  },
  clusterRedirects: {
    name: 'redis_ambassador_cluster_redirects_total',
    type: 'counter',
    help: 'Redis Cluster listeners: -MOVED and -ASK replies passed to clients, rewritten to name the ambassador\'s node listeners (kind = moved, ask).',
    labels: ['listener', 'kind'],
  },
  failovers: {
    name: 'redis_ambassador_failovers_total',
    type: 'counter',
    help: 'Times the listener switched its traffic to a different master.',
    labels: ['listener'],
    aggregator: 'max',
  },
  tlsHandshakeFailures: {
    name: 'redis_ambassador_tls_handshake_failures_total',
    type: 'counter',
    help: 'Client connections a TLS listener refused before reading a byte of them, by reason: "plaintext" (not TLS; answered -ERR and closed), "timeout" (no finished handshake within AMBASSADOR_TLS_HANDSHAKE_TIMEOUT_MS), "protocol" (the handshake failed: TLS version, ciphers, an alert from the client), "no_certificate", "unknown_ca" (not signed by AMBASSADOR_TLS_LISTEN_CA_FILE), "expired", "not_yet_valid", "bad_certificate" (any other verification failure), "unknown_identity" (verified, but not named in AMBASSADOR_TLS_CLIENT_USERS_FILE). Published at 0 for every listener.',
    labels: ['listener', 'reason'],
  },
  tlsCertificateExpiry: {
    name: 'redis_ambassador_tls_certificate_expiry_seconds',
    type: 'gauge',
    help: 'Seconds until a certificate in force expires (negative once it has): role="listener" (the TLS listener\'s own certificate), "ca" (the earliest in AMBASSADOR_TLS_LISTEN_CA_FILE), "client" (AMBASSADOR_TLS_CERT_FILE, shown for listeners with a TLS upstream), "upstream_ca" (the earliest in AMBASSADOR_TLS_CA_FILE). +Inf where the listener has no such certificate.',
    labels: ['listener', 'role'],
    aggregator: 'min',
  },
  reloads: {
    name: 'redis_ambassador_reloads_total',
    type: 'counter',
    help: 'Secrets re-read and put in force (SIGHUP, or a watched file changed), by material: "listener_tls", "upstream_tls", "upstream_password", "requirepass", "client_users". New handshakes and new upstream connections use them; open connections go on.',
    labels: ['material'],
    // Every worker re-reads the same files itself: adding them up would count one reload N times.
    aggregator: 'max',
  },
  reloadFailures: {
    name: 'redis_ambassador_reload_failures_total',
    type: 'counter',
    help: 'Reloads refused because a file could not be read or did not parse (a certificate without its key, an empty password file, ...): the material before stays in force; the log line names the file.',
    labels: ['material'],
    aggregator: 'max',
  },
} as const satisfies Record<string, MetricDef>;

/** Error codes kept as label values; anything else is "other", so the label set stays bounded. */
export const ERROR_CODES: readonly string[] = [
  'ERR', 'WRONGTYPE', 'MOVED', 'ASK', 'READONLY', 'NOSCRIPT', 'NOAUTH', 'NOPERM', 'WRONGPASS',
  'LOADING', 'MASTERDOWN', 'BUSY', 'BUSYKEY', 'BUSYGROUP', 'NOGROUP', 'EXECABORT', 'OOM', 'MISCONF',
  'NOREPLICAS', 'NOTBUSY', 'UNBLOCKED', 'CROSSSLOT', 'TRYAGAIN', 'CLUSTERDOWN', 'NOPROTO',
  'UNKILLABLE', 'NOTREADONLY', 'other',
];

export const REJECT_REASONS: readonly string[] = ['policy', 'noauth'];

/** Redis Cluster redirects (cluster_redirects_total's kind). */
export const REDIRECT_KINDS = ['moved', 'ask'] as const;

/** Why a client's upstream connection ended unasked (upstream_disconnects_total's cause). */
export const DISCONNECT_CAUSES = ['closed_by_server', 'lost'] as const;

export const PUSH_KINDS: readonly string[] = ['message', 'pmessage', 'smessage', 'monitor', 'invalidate', 'other'];

/** Why a TLS listener refused a connection; a bounded label set. */
export const TLS_FAILURE_REASONS = [
  'plaintext', 'timeout', 'protocol', 'no_certificate', 'unknown_ca', 'expired', 'not_yet_valid', 'bad_certificate', 'unknown_identity',
] as const;
export type TlsFailureReason = (typeof TLS_FAILURE_REASONS)[number];

/** Whose certificate an expiry is. */
export const CERT_ROLES = ['listener', 'ca', 'client', 'upstream_ca'] as const;
export type CertRole = (typeof CERT_ROLES)[number];

/** What a reload re-reads. */
export const MATERIALS = ['listener_tls', 'upstream_tls', 'upstream_password', 'requirepass', 'client_users'] as const;
export type Material = (typeof MATERIALS)[number];
