/**
 * The one place where arguments and environment become the typed, validated configuration.
 * Everything after this trusts AmbassadorConfig; everything wrong before it is a ConfigError.
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from './configError.js';
import { parseCliArgs } from './cliArgs.js';
import { parseHostPort } from './address.js';
import { parseCommandList } from './commandList.js';
import { listenersFromEnv } from './listenerContract.js';
import { listenersFromFlags } from './listenerFlags.js';
import type { ListenerSpec } from './listenerSpec.js';
import { LOG_LEVELS, REDIS_DEFAULT_LIMITS, type AmbassadorConfig, type LogLevel, type PolicySpec } from './settings.js';

/** What loading needs to know beyond its input: which command names exist (for the policy lists). */
export interface LoadContext {
  isCommand(name: string): boolean;
}

export const DEFAULT_ADMIN_ADDR = '0.0.0.0:9736';

export type LoadResult =
  | { readonly kind: 'help' }
  | { readonly kind: 'version' }
  | { readonly kind: 'run'; readonly config: AmbassadorConfig };

export function loadConfig(argv: readonly string[], env: NodeJS.ProcessEnv, context: LoadContext): LoadResult {
  const args = parseCliArgs(argv);
  if (args.help) return { kind: 'help' };
  if (args.version) return { kind: 'version' };
  const setting = (name: string): string | undefined => args.values.get(name) ?? nonEmpty(env[name]);

  let listeners: ListenerSpec[];
  const notes: string[] = [];
  if (args.listeners.length > 0) {
    listeners = listenersFromFlags(args.listeners);
  } else {
    const fromEnv = listenersFromEnv(env);
    listeners = fromEnv.listeners;
    notes.push(...fromEnv.notes);
    if (listeners.length === 0) {
      throw new ConfigError(
        'nothing to listen on: set a variable like REDIS_PORT_6379_TCP=tcp://10.0.0.5:6379 ' +
          '(docker run --link redis:redis sets it for you) or pass --listen 6379 --upstream tcp://10.0.0.5:6379',
      );
    }
  }

  const adminText = setting('AMBASSADOR_ADMIN_ADDR') ?? DEFAULT_ADMIN_ADDR;
  const admin = adminText === 'off' ? null : parseHostPort(adminText, 'AMBASSADOR_ADMIN_ADDR', '0.0.0.0');
  if (admin) {
    const clash = listeners.find((l) => l.port === admin.port);
    if (clash) {
      throw new ConfigError(
        `AMBASSADOR_ADMIN_ADDR port ${admin.port} is also the listener port of ${clash.source}; choose another admin port (default ${DEFAULT_ADMIN_ADDR})`,
      );
    }
  }

  const logLevel = (setting('AMBASSADOR_LOG_LEVEL') ?? 'info').toLowerCase();
  if (!(LOG_LEVELS as readonly string[]).includes(logLevel)) {
    throw new ConfigError(`AMBASSADOR_LOG_LEVEL: "${logLevel}" is not one of ${LOG_LEVELS.join(', ')}`);
  }

  const loss = (setting('AMBASSADOR_ON_UPSTREAM_LOSS') ?? 'reconnect').toLowerCase();
  if (loss !== 'reconnect' && loss !== 'close') {
    throw new ConfigError(`AMBASSADOR_ON_UPSTREAM_LOSS: "${loss}" is not reconnect (keep clients, move them to the upstream) or close (socat's behaviour)`);
  }

  const metricsText = (setting('AMBASSADOR_METRICS') ?? 'on').toLowerCase();
  if (!['on', 'off', 'true', 'false', '1', '0'].includes(metricsText)) {
    throw new ConfigError(`AMBASSADOR_METRICS: "${metricsText}" is not on or off`);
  }

  const deny = setting('AMBASSADOR_DENY_COMMANDS');
  const allow = setting('AMBASSADOR_ALLOW_COMMANDS');
  if (deny !== undefined && allow !== undefined) {
    throw new ConfigError('AMBASSADOR_DENY_COMMANDS and AMBASSADOR_ALLOW_COMMANDS are both set; use one (a deny-list, or an allow-list)');
  }
  const policy: PolicySpec | null =
    deny !== undefined
      ? { mode: 'deny', names: parseCommandList(deny, 'AMBASSADOR_DENY_COMMANDS', context.isCommand), source: 'AMBASSADOR_DENY_COMMANDS' }
      : allow !== undefined
        ? { mode: 'allow', names: parseCommandList(allow, 'AMBASSADOR_ALLOW_COMMANDS', context.isCommand), source: 'AMBASSADOR_ALLOW_COMMANDS' }
        : null;
  const upstreamPassword = secret(setting, 'AMBASSADOR_UPSTREAM_PASSWORD');
  const upstreamUser = setting('AMBASSADOR_UPSTREAM_USERNAME') ?? null;
  if (upstreamUser !== null && upstreamPassword === null) {
    throw new ConfigError('AMBASSADOR_UPSTREAM_USERNAME is set without AMBASSADOR_UPSTREAM_PASSWORD (or AMBASSADOR_UPSTREAM_PASSWORD_FILE)');
  }

  return {
    kind: 'run',
    config: {
      listeners,
      bindHost: setting('AMBASSADOR_BIND') ?? null,
      admin,
      logLevel: logLevel as LogLevel,
      metrics: ['on', 'true', '1'].includes(metricsText),
      connectTimeoutMs: positiveInt(setting, 'AMBASSADOR_CONNECT_TIMEOUT_MS', 2000),
      connectWindowMs: positiveInt(setting, 'AMBASSADOR_CONNECT_WINDOW_MS', 5000),
      shutdownTimeoutMs: positiveInt(setting, 'AMBASSADOR_SHUTDOWN_TIMEOUT_MS', 5000),
      maxPendingCommands: positiveInt(setting, 'AMBASSADOR_MAX_PENDING_COMMANDS', 100_000),
      healthIntervalMs: positiveInt(setting, 'AMBASSADOR_HEALTH_INTERVAL_MS', 1000),
      healthTimeoutMs: positiveInt(setting, 'AMBASSADOR_HEALTH_TIMEOUT_MS', 1000),
      healthFailures: positiveInt(setting, 'AMBASSADOR_HEALTH_FAILURES', 2),
      onUpstreamLoss: loss,
      unavailableWaitMs: positiveInt(setting, 'AMBASSADOR_UNAVAILABLE_WAIT_MS', 5000),
      sentinelPollMs: positiveInt(setting, 'AMBASSADOR_SENTINEL_POLL_MS', 5000),
      workers: positiveInt(setting, 'AMBASSADOR_WORKERS', 1),
      limits: {
        ...REDIS_DEFAULT_LIMITS,
        maxBulkLength: positiveInt(setting, 'AMBASSADOR_MAX_BULK_LENGTH', REDIS_DEFAULT_LIMITS.maxBulkLength),
        maxMultibulkLength: positiveInt(setting, 'AMBASSADOR_MAX_MULTIBULK_LENGTH', REDIS_DEFAULT_LIMITS.maxMultibulkLength),
        maxInlineLength: positiveInt(setting, 'AMBASSADOR_MAX_INLINE_LENGTH', REDIS_DEFAULT_LIMITS.maxInlineLength),
      },
      maxClients: positiveInt(setting, 'AMBASSADOR_MAX_CLIENTS', 10_000),
      idleTimeoutMs: wholeNumber(setting, 'AMBASSADOR_IDLE_TIMEOUT_MS', 0),
      tcpKeepaliveMs: wholeNumber(setting, 'AMBASSADOR_TCP_KEEPALIVE_MS', 300_000),
      requirepass: secret(setting, 'AMBASSADOR_REQUIREPASS'),
      upstreamCredentials: upstreamPassword === null ? null : { username: upstreamUser, password: upstreamPassword },
      policy,
      tls: {
        ca: file(setting, 'AMBASSADOR_TLS_CA_FILE'),
        cert: file(setting, 'AMBASSADOR_TLS_CERT_FILE'),
        key: file(setting, 'AMBASSADOR_TLS_KEY_FILE'),
        servername: setting('AMBASSADOR_TLS_SERVERNAME') ?? null,
        verify: onOff(setting, 'AMBASSADOR_TLS_VERIFY', true),
      },
      tlsMasters: onOff(setting, 'AMBASSADOR_TLS_MASTERS', false),
      notes,
    },
  };
}

function positiveInt(setting: (name: string) => string | undefined, name: string, fallback: number): number {
  const text = setting(name);
  if (text === undefined) return fallback;
  if (!/^[0-9]+$/.test(text) || Number(text) <= 0 || !Number.isSafeInteger(Number(text))) {
    throw new ConfigError(`${name}: "${text}" is not a positive whole number (default ${fallback})`);
  }
  return Number(text);
}

function onOff(setting: (name: string) => string | undefined, name: string, fallback: boolean): boolean {
  const text = setting(name)?.toLowerCase();
  if (text === undefined) return fallback;
  if (['on', 'true', '1', 'yes'].includes(text)) return true;
  if (['off', 'false', '0', 'no'].includes(text)) return false;
  throw new ConfigError(`${name}: "${text}" is not on or off (default ${fallback ? 'on' : 'off'})`);
}

function file(setting: (name: string) => string | undefined, name: string): Buffer | null {
  const path = setting(name);
  if (path === undefined) return null;
  try {
    return readFileSync(path);
  } catch (err) {
    throw new ConfigError(`${name}: cannot read "${path}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
}

function wholeNumber(setting: (name: string) => string | undefined, name: string, fallback: number): number {
  const text = setting(name);
  if (text === undefined) return fallback;
  if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(Number(text))) {
    throw new ConfigError(`${name}: "${text}" is not a whole number of milliseconds, 0 for off (default ${fallback})`);
  }
  return Number(text);
}

/**
 * A secret from NAME or from the file NAME_FILE (Docker/Kubernetes secrets), trailing newline
 * dropped. Error messages name the variable, never the value.
 */
function secret(setting: (name: string) => string | undefined, name: string): Buffer | null {
  const direct = setting(name);
  const file = setting(`${name}_FILE`);
  if (direct !== undefined && file !== undefined) throw new ConfigError(`${name} and ${name}_FILE are both set; use one`);
  if (direct !== undefined) return Buffer.from(direct);
  if (file === undefined) return null;
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${name}_FILE: cannot read "${file}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const value = text.replace(/\r?\n$/, '');
  if (value === '') throw new ConfigError(`${name}_FILE: "${file}" is empty`);
  return Buffer.from(value);
}

function nonEmpty(v: string | undefined): string | undefined {
  return v === undefined || v === '' ? undefined : v;
}
