/**
 * The one place where arguments and environment become the typed, validated configuration.
 * Everything after this trusts AmbassadorConfig; everything wrong before it is a ConfigError.
 */
import { ConfigError } from './configError.js';
import { parseCliArgs, type CliArgs } from './cliArgs.js';
import { parseHostPort, type HostPort } from './address.js';
import { parseCommandList } from './commandList.js';
import { listenersFromEnv } from './listenerContract.js';
import { listenersFromFlags } from './listenerFlags.js';
import { parsePortRange, type ListenerSpec } from './listenerSpec.js';
import { readClientUsersSetting, readSecretFiles, readTlsListen, readUpstreamTlsSetting } from './secretSettings.js';
import { SettingReader } from './settingReader.js';
import {
  LOG_LEVELS,
  REDIS_DEFAULT_LIMITS,
  type AmbassadorConfig,
  type Limits,
  type LogLevel,
  type PolicySpec,
  type SlowLogSettings,
  type UpstreamCredentials,
  type UpstreamLoss,
  type UpstreamMode,
} from './settings.js';

/** What loading needs to know beyond its input: which command names exist (for the policy lists). */
export interface LoadContext {
  isCommand(name: string): boolean;
}

export const DEFAULT_ADMIN_ADDR = '0.0.0.0:9736';
/** Measured in npm run bench (README, Performance): more connections only split the batches. */
export const DEFAULT_SHARED_CONNECTIONS = 1;

/** AMBASSADOR_SLOWLOG_MS's default: measured in README, Observability (a healthy loopback p99.99 is far below it). */
export const DEFAULT_SLOWLOG_MS = 100;
export const DEFAULT_SLOWLOG_LEN = 128;

export type LoadResult =
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'run'; readonly config: AmbassadorConfig };

/** Redis's own request limits, each overridable (AMBASSADOR_MAX_*). */
function readLimits(s: SettingReader): Limits {
  return {
    ...REDIS_DEFAULT_LIMITS,
    maxBulkLength: s.positiveInt('AMBASSADOR_MAX_BULK_LENGTH', REDIS_DEFAULT_LIMITS.maxBulkLength),
    maxMultibulkLength: s.positiveInt('AMBASSADOR_MAX_MULTIBULK_LENGTH', REDIS_DEFAULT_LIMITS.maxMultibulkLength),
    maxInlineLength: s.positiveInt('AMBASSADOR_MAX_INLINE_LENGTH', REDIS_DEFAULT_LIMITS.maxInlineLength),
  };
}

function readSlowLog(s: SettingReader): SlowLogSettings {
  return {
    thresholdMs: s.millisecondsOrOff('AMBASSADOR_SLOWLOG_MS', DEFAULT_SLOWLOG_MS),
    length: s.positiveInt('AMBASSADOR_SLOWLOG_LEN', DEFAULT_SLOWLOG_LEN),
    args: s.onOff('AMBASSADOR_SLOWLOG_ARGS', false),
  };
}

export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv, context: LoadContext): LoadResult {
  const args = parseCliArgs(argv);
  if (args.help) return { kind: 'help' };
  if (args.version) return { kind: 'version' };
  const s = new SettingReader(args.values, env);
  const read = readListeners(args.listeners, env);
  const notes = read.notes;
  const listeners = withClusterPorts(read.listeners, s);
  const secretFiles = readSecretFiles(s);
  const upstreamTls = readUpstreamTlsSetting(secretFiles.upstreamTls);
  const tlsListen = readTlsListen(s, listeners);
  return {
    kind: 'run',
    config: {
      listeners,
      bindHost: s.text('AMBASSADOR_BIND') ?? null,
      admin: readAdmin(s, listeners),
      cluster: {
        announceHost: s.text('AMBASSADOR_ANNOUNCE_HOST') ?? null,
        refreshMs: s.positiveInt('AMBASSADOR_CLUSTER_REFRESH_MS', 5000),
      },
      logLevel: s.choice<LogLevel>('AMBASSADOR_LOG_LEVEL', LOG_LEVELS, 'info', `one of ${LOG_LEVELS.join(', ')}`),
      metrics: s.onOff('AMBASSADOR_METRICS', true),
      connectTimeoutMs: s.positiveInt('AMBASSADOR_CONNECT_TIMEOUT_MS', 2000),
      connectWindowMs: s.positiveInt('AMBASSADOR_CONNECT_WINDOW_MS', 5000),
      shutdownTimeoutMs: s.positiveInt('AMBASSADOR_SHUTDOWN_TIMEOUT_MS', 5000),
      maxPendingCommands: s.positiveInt('AMBASSADOR_MAX_PENDING_COMMANDS', 100_000),
      healthIntervalMs: s.positiveInt('AMBASSADOR_HEALTH_INTERVAL_MS', 1000),
      healthTimeoutMs: s.positiveInt('AMBASSADOR_HEALTH_TIMEOUT_MS', 1000),
      healthFailures: s.positiveInt('AMBASSADOR_HEALTH_FAILURES', 2),
      onUpstreamLoss: s.choice<UpstreamLoss>(
        'AMBASSADOR_ON_UPSTREAM_LOSS',
        ['reconnect', 'close'],
        'reconnect',
        "reconnect (keep clients, move them to the upstream) or close (socat's behaviour)",
      ),
      upstreamMode: s.choice<UpstreamMode>(
        'AMBASSADOR_UPSTREAM_MODE',
        ['dedicated', 'shared'],
        'dedicated',
        'dedicated (one upstream connection per client, as socat) or shared (a few connections shared by many clients)',
      ),
      shared: {
        connections: s.positiveInt('AMBASSADOR_SHARED_CONNECTIONS', DEFAULT_SHARED_CONNECTIONS),
        maxFrameBytes: s.positiveInt('AMBASSADOR_SHARED_MAX_FRAME', 1024 * 1024),
        clientOutputLimitBytes: s.positiveInt('AMBASSADOR_CLIENT_OUTPUT_LIMIT', 64 * 1024 * 1024),
      },
      unavailableWaitMs: s.positiveInt('AMBASSADOR_UNAVAILABLE_WAIT_MS', 5000),
      sentinelPollMs: s.positiveInt('AMBASSADOR_SENTINEL_POLL_MS', 5000),
      workers: s.positiveInt('AMBASSADOR_WORKERS', 1),
      limits: readLimits(s),
      maxClients: s.positiveInt('AMBASSADOR_MAX_CLIENTS', 10_000),
      idleTimeoutMs: s.wholeNumber('AMBASSADOR_IDLE_TIMEOUT_MS', 0),
      tcpKeepaliveMs: s.wholeNumber('AMBASSADOR_TCP_KEEPALIVE_MS', 300_000),
      requirepass: s.secret('AMBASSADOR_REQUIREPASS'),
      upstreamCredentials: readUpstreamCredentials(s),
      policy: readPolicy(s, context),
      tls: {
        ca: upstreamTls.ca,
        cert: upstreamTls.cert,
        key: upstreamTls.key,
        servername: s.text('AMBASSADOR_TLS_SERVERNAME') ?? null,
        verify: s.onOff('AMBASSADOR_TLS_VERIFY', true),
      },
      tlsMasters: s.onOff('AMBASSADOR_TLS_MASTERS', false),
      tlsListen,
      clientUsers: readClientUsersSetting(secretFiles.clientUsers, tlsListen),
      secretFiles,
      watchSecrets: s.onOff('AMBASSADOR_WATCH_SECRETS', true),
      slowLog: readSlowLog(s),
      hotKeys: s.onOff('AMBASSADOR_HOTKEYS', false),
      notes,
    },
  };
}

/** With any --listen the environment's listener variables are not used, as --help says. */
function readListeners(flags: CliArgs['listeners'], env: NodeJS.ProcessEnv): { listeners: ListenerSpec[]; notes: string[] } {
  if (flags.length > 0) return { listeners: listenersFromFlags(flags), notes: [] };
  const fromEnv = listenersFromEnv(env);
  if (fromEnv.listeners.length === 0) {
    throw new ConfigError(
      'nothing to listen on: set a variable like REDIS_PORT_6379_TCP=tcp://10.0.0.5:6379 ' +
        '(docker run --link redis:redis sets it for you) or pass --listen 6379 --upstream tcp://10.0.0.5:6379',
    );
  }
  return fromEnv;
}

/** Ports a cluster listener's node listeners take when nothing says otherwise: the 64 just above its own. */
const DEFAULT_CLUSTER_PORTS = 64;

/**
 * Each Redis Cluster listener gets its node ports: its own `_CLUSTER_PORTS`, else
 * AMBASSADOR_CLUSTER_PORTS (which only one cluster listener can have), else the ports just above
 * its own. No range may hold another listener's port or overlap another range.
 */
function withClusterPorts(listeners: ListenerSpec[], s: SettingReader): ListenerSpec[] {
  const clusters = listeners.filter((l) => l.target.kind === 'cluster');
  const global = s.text('AMBASSADOR_CLUSTER_PORTS');
  if (global !== undefined && clusters.length > 1) {
    throw new ConfigError(`AMBASSADOR_CLUSTER_PORTS is set, but ${clusters.length} listeners front a Redis Cluster; give each its own <NAME>_PORT_<p>_CLUSTER_PORTS`);
  }
  const out = listeners.map((l) => {
    if (l.target.kind !== 'cluster' || l.target.cluster.ports !== null) return l;
    const ports = global !== undefined ? parsePortRange(global, 'AMBASSADOR_CLUSTER_PORTS') : { from: l.port + 1, to: Math.min(65535, l.port + DEFAULT_CLUSTER_PORTS) };
    if (ports.from > 65535) throw new ConfigError(`${l.source}: no ports left above ${l.port} for the cluster's nodes; set AMBASSADOR_CLUSTER_PORTS`);
    return { ...l, target: { kind: 'cluster' as const, cluster: { ...l.target.cluster, ports } } };
  });
  const ranges = out.flatMap((l) => (l.target.kind === 'cluster' && l.target.cluster.ports ? [{ l, r: l.target.cluster.ports }] : []));
  for (const { l, r } of ranges) {
    const inside = out.find((o) => o.port >= r.from && o.port <= r.to);
    if (inside) throw new ConfigError(`${l.source}: its node ports ${r.from}-${r.to} include the port of ${inside.source} (${inside.port}); choose another range`);
    for (const other of ranges) {
      if (other.l !== l && r.from <= other.r.to && other.r.from <= r.to) {
        throw new ConfigError(`the node ports of ${l.source} (${r.from}-${r.to}) and ${other.l.source} (${other.r.from}-${other.r.to}) overlap; give them separate ranges`);
      }
    }
  }
  return out;
}

function readAdmin(s: SettingReader, listeners: readonly ListenerSpec[]): HostPort | null {
  const text = s.text('AMBASSADOR_ADMIN_ADDR') ?? DEFAULT_ADMIN_ADDR;
  if (text === 'off') return null;
  const admin = parseHostPort(text, 'AMBASSADOR_ADMIN_ADDR', '0.0.0.0');
  const inRange = listeners.find((l) => l.target.kind === 'cluster' && l.target.cluster.ports !== null && admin.port >= l.target.cluster.ports.from && admin.port <= l.target.cluster.ports.to);
  if (inRange) throw new ConfigError(`AMBASSADOR_ADMIN_ADDR port ${admin.port} is inside the node ports of ${inRange.source}; choose another admin port or range`);
  const clash = listeners.find((l) => l.port === admin.port);
  if (clash) {
    throw new ConfigError(
      `AMBASSADOR_ADMIN_ADDR port ${admin.port} is also the listener port of ${clash.source}; choose another admin port (default ${DEFAULT_ADMIN_ADDR})`,
    );
  }
  return admin;
}

function readPolicy(s: SettingReader, context: LoadContext): PolicySpec | null {
  const deny = s.text('AMBASSADOR_DENY_COMMANDS');
  const allow = s.text('AMBASSADOR_ALLOW_COMMANDS');
  if (deny !== undefined && allow !== undefined) {
    throw new ConfigError('AMBASSADOR_DENY_COMMANDS and AMBASSADOR_ALLOW_COMMANDS are both set; use one (a deny-list, or an allow-list)');
  }
  if (deny !== undefined) return { mode: 'deny', names: parseCommandList(deny, 'AMBASSADOR_DENY_COMMANDS', context.isCommand), source: 'AMBASSADOR_DENY_COMMANDS' };
  if (allow !== undefined) return { mode: 'allow', names: parseCommandList(allow, 'AMBASSADOR_ALLOW_COMMANDS', context.isCommand), source: 'AMBASSADOR_ALLOW_COMMANDS' };
  return null;
}

function readUpstreamCredentials(s: SettingReader): UpstreamCredentials | null {
  const password = s.secret('AMBASSADOR_UPSTREAM_PASSWORD');
  const username = s.text('AMBASSADOR_UPSTREAM_USERNAME') ?? null;
  if (username !== null && password === null) {
    throw new ConfigError('AMBASSADOR_UPSTREAM_USERNAME is set without AMBASSADOR_UPSTREAM_PASSWORD (or AMBASSADOR_UPSTREAM_PASSWORD_FILE)');
  }
  return password === null ? null : { username, password };
}
