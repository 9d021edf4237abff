import { describe, expect, it } from 'vitest';
import { loadConfig, type LoadContext } from '../../../src/config/loadConfig.js';
import { ConfigError } from '../../../src/config/configError.js';
import type { AmbassadorConfig } from '../../../src/config/settings.js';
import type { ListenerSpec } from '../../../src/config/listenerSpec.js';
import { TRAITS } from '../../../src/resp/commandTraits.js';

// As cli.ts builds it: every label of the command table but id 0's "unknown".
// The same check cli.ts gives loadConfig.
const CONTEXT: LoadContext = { isCommand: (name) => TRAITS.isLabel(name) };

function run(argv: string[], env: Record<string, string> = {}): AmbassadorConfig {
  const r = loadConfig(argv, env, CONTEXT);
  if (r.kind !== 'run') throw new Error(`expected run, got ${r.kind}`);
  return r.config;
}

function failure(argv: string[], env: Record<string, string> = {}): string {
  try {
    loadConfig(argv, env, CONTEXT);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

function staticUrl(l: ListenerSpec): string {
  if (l.target.kind !== 'static') throw new Error(`${l.name}: expected a static target, got ${l.target.kind}`);
  return l.target.upstream.url;
}

const LINK = { REDIS_PORT_6379_TCP: 'tcp://10.0.0.5:6379' };

describe('loadConfig', () => {
  it('has documented defaults', () => {
    const c = run([], LINK);
    expect(c).toMatchObject({
      bindHost: null,
      admin: { host: '0.0.0.0', port: 9736 },
      logLevel: 'info',
      metrics: true,
      connectTimeoutMs: 2000,
      connectWindowMs: 5000,
      shutdownTimeoutMs: 5000,
      maxPendingCommands: 100000,
      healthIntervalMs: 1000,
      healthTimeoutMs: 1000,
      healthFailures: 2,
    });
    expect(c.limits.maxBulkLength).toBe(512 * 1024 * 1024);
  });

  it('refuses to start with nothing to listen on, and says how to fix it', () => {
    const msg = failure([], { HOME: '/' });
    expect(msg).toContain('nothing to listen on');
    expect(msg).toContain('REDIS_PORT_6379_TCP=tcp://');
    expect(msg).toContain('--listen 6379 --upstream');
  });

  it('takes --listen/--upstream pairs, which replace the environment contract', () => {
    const c = run(['--listen', '7000', '--upstream', 'tcp://127.0.0.1:6379', '--listen=cache:7001', '--upstream=tcp://h:6380'], LINK);
    expect(c.listeners.map((l) => [l.name, l.port, staticUrl(l)])).toEqual([
      ['redis:7000', 7000, 'tcp://127.0.0.1:6379'],
      ['cache:7001', 7001, 'tcp://h:6380'],
    ]);
  });

  it.each([
    [['--listen', '7000'], 'has no --upstream'],
    [['--upstream', 'tcp://h:1'], 'must follow a --listen'],
    [['--listen', '7000', '--upstream', 'tcp://h:1', '--upstream', 'tcp://h:2'], 'two --upstream'],
    [['--listen', 'abc', '--upstream', 'tcp://h:1'], 'expected [NAME:]PORT'],
    [['--listen', '7000', '--upstream', 'h:1'], 'is not tcp://<host>:<port>'],
    [['--listen', '7000', '--upstream', 'tcp://h:1', '--listen', '7000', '--upstream', 'tcp://h:2'], 'already used'],
    [['--frobnicate'], 'unknown argument "--frobnicate"'],
    [['--admin'], '--admin needs a value'],
  ])('%j fails with "%s"', (argv, expected) => {
    expect(failure(argv, LINK)).toContain(expected);
  });

  it('lets flags override environment settings', () => {
    const c = run(['--admin', '127.0.0.1:9999', '--log-level', 'debug', '--no-metrics'], {
      ...LINK,
      AMBASSADOR_ADMIN_ADDR: '0.0.0.0:1234',
      AMBASSADOR_LOG_LEVEL: 'warn',
    });
    expect(c.admin).toEqual({ host: '127.0.0.1', port: 9999 });
    expect(c.logLevel).toBe('debug');
    expect(c.metrics).toBe(false);
  });

  it('turns the admin endpoint off, and reads ":port" as all interfaces', () => {
    expect(run([], { ...LINK, AMBASSADOR_ADMIN_ADDR: 'off' }).admin).toBeNull();
    expect(run([], { ...LINK, AMBASSADOR_ADMIN_ADDR: ':9100' }).admin).toEqual({ host: '0.0.0.0', port: 9100 });
    expect(run([], { ...LINK, AMBASSADOR_ADMIN_ADDR: '[::1]:9100' }).admin).toEqual({ host: '::1', port: 9100 });
  });

  it.each([
    [{ AMBASSADOR_ADMIN_ADDR: 'localhost' }, 'AMBASSADOR_ADMIN_ADDR'],
    [{ AMBASSADOR_ADMIN_ADDR: '0.0.0.0:6379' }, 'also the listener port of REDIS_PORT_6379_TCP'],
    [{ AMBASSADOR_LOG_LEVEL: 'loud' }, 'AMBASSADOR_LOG_LEVEL: "loud" is not one of debug, info, warn, error'],
    [{ AMBASSADOR_METRICS: 'maybe' }, 'AMBASSADOR_METRICS'],
    [{ AMBASSADOR_CONNECT_TIMEOUT_MS: '-5' }, 'AMBASSADOR_CONNECT_TIMEOUT_MS: "-5" is not a positive whole number (default 2000)'],
    [{ AMBASSADOR_SHUTDOWN_TIMEOUT_MS: '1.5' }, 'AMBASSADOR_SHUTDOWN_TIMEOUT_MS'],
  ])('%j is refused naming %s', (env, expected) => {
    expect(failure([], { ...LINK, ...env })).toContain(expected);
  });

  it('answers --help and --version before looking at the environment', () => {
    expect(loadConfig(['--help'], {}, CONTEXT).kind).toBe('help');
    expect(loadConfig(['-V'], {}, CONTEXT).kind).toBe('version');
  });
});
