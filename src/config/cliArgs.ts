import { ConfigError } from './configError.js';

/** Flags as typed, before validation; loadConfig turns them into the typed config. */
export interface CliArgs {
  help: boolean;
  version: boolean;
  /** --listen/--upstream pairs in the order given. */
  listeners: { listen: string; upstream: string | undefined }[];
  values: Map<string, string>;
}

/** Flags that take a value, and the environment variable each one overrides. */
export const VALUE_FLAGS: Readonly<Record<string, string>> = {
  '--admin': 'AMBASSADOR_ADMIN_ADDR',
  '--bind': 'AMBASSADOR_BIND',
  '--log-level': 'AMBASSADOR_LOG_LEVEL',
  '--connect-timeout': 'AMBASSADOR_CONNECT_TIMEOUT_MS',
  '--connect-window': 'AMBASSADOR_CONNECT_WINDOW_MS',
  '--shutdown-timeout': 'AMBASSADOR_SHUTDOWN_TIMEOUT_MS',
  '--max-pending': 'AMBASSADOR_MAX_PENDING_COMMANDS',
  '--health-interval': 'AMBASSADOR_HEALTH_INTERVAL_MS',
  '--health-timeout': 'AMBASSADOR_HEALTH_TIMEOUT_MS',
  '--health-failures': 'AMBASSADOR_HEALTH_FAILURES',
  '--on-upstream-loss': 'AMBASSADOR_ON_UPSTREAM_LOSS',
  '--unavailable-wait': 'AMBASSADOR_UNAVAILABLE_WAIT_MS',
  '--upstream-mode': 'AMBASSADOR_UPSTREAM_MODE',
  '--shared-connections': 'AMBASSADOR_SHARED_CONNECTIONS',
  '--shared-max-frame': 'AMBASSADOR_SHARED_MAX_FRAME',
  '--client-output-limit': 'AMBASSADOR_CLIENT_OUTPUT_LIMIT',
  '--cluster-ports': 'AMBASSADOR_CLUSTER_PORTS',
  '--announce-host': 'AMBASSADOR_ANNOUNCE_HOST',
  '--cluster-refresh': 'AMBASSADOR_CLUSTER_REFRESH_MS',
  '--sentinel-poll': 'AMBASSADOR_SENTINEL_POLL_MS',
  '--workers': 'AMBASSADOR_WORKERS',
  '--max-clients': 'AMBASSADOR_MAX_CLIENTS',
  '--idle-timeout': 'AMBASSADOR_IDLE_TIMEOUT_MS',
  '--tcp-keepalive': 'AMBASSADOR_TCP_KEEPALIVE_MS',
  '--max-bulk-length': 'AMBASSADOR_MAX_BULK_LENGTH',
  '--max-multibulk-length': 'AMBASSADOR_MAX_MULTIBULK_LENGTH',
  '--max-inline-length': 'AMBASSADOR_MAX_INLINE_LENGTH',
  '--deny-commands': 'AMBASSADOR_DENY_COMMANDS',
  '--allow-commands': 'AMBASSADOR_ALLOW_COMMANDS',
  '--upstream-username': 'AMBASSADOR_UPSTREAM_USERNAME',
  '--upstream-password-file': 'AMBASSADOR_UPSTREAM_PASSWORD_FILE',
  '--requirepass-file': 'AMBASSADOR_REQUIREPASS_FILE',
  '--tls-ca-file': 'AMBASSADOR_TLS_CA_FILE',
  '--tls-cert-file': 'AMBASSADOR_TLS_CERT_FILE',
  '--tls-key-file': 'AMBASSADOR_TLS_KEY_FILE',
  '--tls-servername': 'AMBASSADOR_TLS_SERVERNAME',
  '--tls-verify': 'AMBASSADOR_TLS_VERIFY',
  '--tls-listen-cert-file': 'AMBASSADOR_TLS_LISTEN_CERT_FILE',
  '--tls-listen-key-file': 'AMBASSADOR_TLS_LISTEN_KEY_FILE',
  '--tls-listen-ca-file': 'AMBASSADOR_TLS_LISTEN_CA_FILE',
  '--tls-listen-client-auth': 'AMBASSADOR_TLS_LISTEN_CLIENT_AUTH',
  '--tls-listen-ports': 'AMBASSADOR_TLS_LISTEN_PORTS',
  '--tls-handshake-timeout': 'AMBASSADOR_TLS_HANDSHAKE_TIMEOUT_MS',
  '--tls-client-users-file': 'AMBASSADOR_TLS_CLIENT_USERS_FILE',
  '--watch-secrets': 'AMBASSADOR_WATCH_SECRETS',
  '--slowlog-ms': 'AMBASSADOR_SLOWLOG_MS',
  '--slowlog-len': 'AMBASSADOR_SLOWLOG_LEN',
  '--slowlog-args': 'AMBASSADOR_SLOWLOG_ARGS',
  '--hotkeys': 'AMBASSADOR_HOTKEYS',
};

export function parseCliArgs(argv: readonly string[]): CliArgs {
  const out: CliArgs = { help: false, version: false, listeners: [], values: new Map() };
  for (let i = 0; i < argv.length; i++) {
    const raw = argv[i]!;
    const eq = raw.startsWith('--') ? raw.indexOf('=') : -1;
    const flag = eq > 0 ? raw.slice(0, eq) : raw;
    const takeValue = (): string => {
      if (eq > 0) return raw.slice(eq + 1);
      const v = argv[i + 1];
      if (v === undefined || v.startsWith('--')) throw new ConfigError(`${flag} needs a value (see --help)`);
      i++;
      return v;
    };
    switch (flag) {
      case '-h':
      case '--help':
        out.help = true;
        break;
      case '-V':
      case '--version':
        out.version = true;
        break;
      case '--no-metrics':
        out.values.set('AMBASSADOR_METRICS', 'off');
        break;
      case '--listen':
        out.listeners.push({ listen: takeValue(), upstream: undefined });
        break;
      case '--upstream': {
        const value = takeValue();
        const last = out.listeners[out.listeners.length - 1];
        if (!last) throw new ConfigError(`--upstream ${value} must follow a --listen (for example --listen 6379 --upstream tcp://10.0.0.5:6379)`);
        if (last.upstream !== undefined) {
          throw new ConfigError(`--listen ${last.listen} has two --upstream flags; give each --listen exactly one`);
        }
        last.upstream = value;
        break;
      }
      default: {
        const env = VALUE_FLAGS[flag];
        if (env === undefined) throw new ConfigError(`unknown argument "${raw}" (see --help)`);
        out.values.set(env, takeValue());
      }
    }
  }
  return out;
}
