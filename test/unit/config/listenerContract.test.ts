import { describe, expect, it } from 'vitest';
import { listenersFromEnv } from '../../../src/config/listenerContract.js';
import { ConfigError } from '../../../src/config/configError.js';
import type { ListenerSpec } from '../../../src/config/listenerSpec.js';
import type { UpstreamAddress } from '../../../src/config/address.js';

/** What Docker sets for `--link redis:redis` to a container exposing 6379 at 172.17.0.2. */
const DOCKER_LINK_ENV = {
  HOME: '/',
  PATH: '/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin',
  REDIS_PORT: 'tcp://172.17.0.2:6379',
  REDIS_PORT_6379_TCP: 'tcp://172.17.0.2:6379',
  REDIS_PORT_6379_TCP_ADDR: '172.17.0.2',
  REDIS_PORT_6379_TCP_PORT: '6379',
  REDIS_PORT_6379_TCP_PROTO: 'tcp',
  REDIS_NAME: '/redis_ambassador/redis',
};

/** The one address of a static target; any other kind fails the test, naming what it was. */
function staticUrl(l: ListenerSpec): string {
  if (l.target.kind !== 'static') throw new Error(`${l.name}: expected a static target, got ${l.target.kind}`);
  return l.target.upstream.url;
}

function candidates(l: ListenerSpec): readonly UpstreamAddress[] {
  if (l.target.kind !== 'candidates') throw new Error(`${l.name}: expected a candidate list, got ${l.target.kind}`);
  return l.target.candidates;
}

function errorOf(env: Record<string, string>): string {
  try {
    listenersFromEnv(env);
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

describe('the socat contract', () => {
  it('turns a Docker link into exactly one listener, ignoring _ADDR/_PORT/_PROTO/_NAME and <NAME>_PORT', () => {
    const { listeners, notes } = listenersFromEnv(DOCKER_LINK_ENV);
    expect(listeners).toEqual([
      {
        name: 'redis:6379',
        port: 6379,
        target: { kind: 'static', upstream: { host: '172.17.0.2', port: 6379, tls: false, url: 'tcp://172.17.0.2:6379' } },
        source: 'REDIS_PORT_6379_TCP',
      },
    ]);
    expect(notes).toEqual([]);
  });

  it('takes the remote-side -e form from the seed', () => {
    const { listeners } = listenersFromEnv({ REDIS_PORT_6379_TCP: 'tcp://192.168.0.71:6379' });
    expect(listeners[0]).toMatchObject({ port: 6379, target: { kind: 'static', upstream: { host: '192.168.0.71', port: 6379 } } });
  });

  it('listens on the port in the name, not the target port (REDIS_PORT_1234_TCP → 1234)', () => {
    const { listeners } = listenersFromEnv({ REDIS_PORT_1234_TCP: 'tcp://192.168.0.71:6379' });
    expect(listeners[0]).toMatchObject({ name: 'redis:1234', port: 1234, target: { kind: 'static', upstream: { port: 6379 } } });
  });

  it('makes one listener per variable, sorted by port', () => {
    const { listeners } = listenersFromEnv({
      CACHE_PORT_6380_TCP: 'tcp://10.0.0.6:6379',
      REDIS_PORT_6379_TCP: 'tcp://10.0.0.5:6379',
    });
    expect(listeners.map((l) => [l.name, staticUrl(l)])).toEqual([
      ['redis:6379', 'tcp://10.0.0.5:6379'],
      ['cache:6380', 'tcp://10.0.0.6:6379'],
    ]);
  });

  it('is greedy like sed: the host is everything up to the last colon', () => {
    const { listeners } = listenersFromEnv({ REDIS_PORT_6379_TCP: 'tcp://[fd00::5]:6380' });
    expect(listeners[0]!.target).toEqual({ kind: 'static', upstream: { host: 'fd00::5', port: 6380, tls: false, url: 'tcp://[fd00::5]:6380' } });
  });

  it('accepts the same port twice when both name the same target', () => {
    const { listeners } = listenersFromEnv({ A_PORT_6379_TCP: 'tcp://h:1', B_PORT_6379_TCP: 'tcp://h:1' });
    expect(listeners).toHaveLength(1);
  });

  it('ignores _ENV_ copies when a direct variable names the same port, and says so', () => {
    const { listeners, notes } = listenersFromEnv({
      REDIS_PORT_6379_TCP: 'tcp://172.17.0.5:6379',
      REDIS_ENV_REDIS_PORT_6379_TCP: 'tcp://192.168.0.71:6379',
    });
    expect(listeners.map(staticUrl)).toEqual(['tcp://172.17.0.5:6379']);
    expect(notes).toHaveLength(1);
    expect(notes[0]).toContain('REDIS_ENV_REDIS_PORT_6379_TCP ignored');
    expect(notes[0]).toContain('REDIS_PORT_6379_TCP');
  });

  it('uses an _ENV_ copy when nothing else defines its port (socat would)', () => {
    const { listeners } = listenersFromEnv({ REDIS_ENV_CACHE_PORT_7000_TCP: 'tcp://10.0.0.9:7000' });
    expect(listeners[0]).toMatchObject({ port: 7000, source: 'REDIS_ENV_CACHE_PORT_7000_TCP' });
  });

  it('ignores a malformed _ENV_ copy with a note instead of failing', () => {
    const { listeners, notes } = listenersFromEnv({ REDIS_PORT_6379_TCP: 'tcp://h:1', X_ENV_Y_PORT_6379_TCP: 'tcp://:1' });
    expect(listeners).toHaveLength(1);
    expect(notes.join()).toContain('X_ENV_Y_PORT_6379_TCP ignored');
  });

  it('returns no listeners for an environment without the contract', () => {
    expect(listenersFromEnv({ HOME: '/', REDIS_PORT: 'tcp://1.2.3.4:6379' }).listeners).toEqual([]);
  });
});

describe('failover extensions (values socat never accepted)', () => {
  it('reads tcp://a,tcp://b as an ordered candidate list', () => {
    const { listeners } = listenersFromEnv({ REDIS_PORT_6379_TCP: 'tcp://10.0.0.5:6379,tcp://10.0.0.6:6380' });
    expect(candidates(listeners[0]!).map((u) => u.url)).toEqual(['tcp://10.0.0.5:6379', 'tcp://10.0.0.6:6380']);
  });

  it('reads rediss:// and tls:// as TLS upstreams, also in candidate lists', () => {
    const { listeners } = listenersFromEnv({ REDIS_PORT_6379_TCP: 'rediss://cache.example:6380,tls://10.0.0.6:6380' });
    expect(candidates(listeners[0]!)).toEqual([
      { host: 'cache.example', port: 6380, tls: true, url: 'rediss://cache.example:6380' },
      { host: '10.0.0.6', port: 6380, tls: true, url: 'rediss://10.0.0.6:6380' },
    ]);
  });

  it('refuses a candidate named twice', () => {
    expect(errorOf({ REDIS_PORT_6379_TCP: 'tcp://h:1,tcp://h:1' })).toContain('appears twice');
  });

  it('defines a listener by a _SENTINEL variable alone', () => {
    const { listeners } = listenersFromEnv({ REDIS_PORT_6379_SENTINEL: 'mymaster@10.0.0.7:26379,[fd00::8]:26380' });
    expect(listeners).toEqual([
      {
        name: 'redis:6379',
        port: 6379,
        target: { kind: 'sentinel', sentinel: { masterName: 'mymaster', sentinels: [{ host: '10.0.0.7', port: 26379 }, { host: 'fd00::8', port: 26380 }] } },
        source: 'REDIS_PORT_6379_SENTINEL',
      },
    ]);
  });

  it('lets Sentinel take over a port that a _TCP variable also names, with a note', () => {
    const { listeners, notes } = listenersFromEnv({
      REDIS_PORT_6379_TCP: 'tcp://172.17.0.2:6379',
      REDIS_PORT_6379_SENTINEL: 'mymaster@10.0.0.7:26379',
    });
    expect(listeners).toHaveLength(1);
    expect(listeners[0]!.target).toMatchObject({ kind: 'sentinel', sentinel: { masterName: 'mymaster' } });
    expect(notes.join()).toContain('REDIS_PORT_6379_TCP ignored for port 6379');
  });

  it.each([
    ['10.0.0.7:26379', 'is not <master-name>@'],
    ['mymaster@', 'is not <master-name>@'],
    ['mymaster@10.0.0.7', 'is not <host>:<port>'],
    ['mymaster@:26379', 'empty host'],
  ])('REDIS_PORT_6379_SENTINEL=%s is refused', (value, expected) => {
    const msg = errorOf({ REDIS_PORT_6379_SENTINEL: value });
    expect(msg).toContain('REDIS_PORT_6379_SENTINEL');
    expect(msg).toContain(expected);
  });
});

describe("socat's traps become named errors", () => {
  it('a port defined twice with different targets', () => {
    const msg = errorOf({ A_PORT_6379_TCP: 'tcp://10.0.0.1:6379', B_PORT_6379_TCP: 'tcp://10.0.0.2:6379' });
    expect(msg).toContain('port 6379 is defined twice');
    expect(msg).toContain('A_PORT_6379_TCP=tcp://10.0.0.1:6379');
    expect(msg).toContain('B_PORT_6379_TCP=tcp://10.0.0.2:6379');
  });

  it.each([
    ['REDIS_PORT_0_TCP', 'tcp://h:6379', 'listen port "0"'],
    ['REDIS_PORT_70000_TCP', 'tcp://h:6379', 'listen port "70000"'],
    ['REDIS_PORT_6379_TCP', 'tcp://h:0', 'has port "0"'],
    ['REDIS_PORT_6379_TCP', 'tcp://h:65536', 'has port "65536"'],
    ['REDIS_PORT_6379_TCP', 'tcp://h:abc', 'has port "abc"'],
    ['REDIS_PORT_6379_TCP', 'tcp://h:', 'has port ""'],
    ['REDIS_PORT_6379_TCP', 'tcp://:6379', 'empty host'],
    ['REDIS_PORT_6379_TCP', 'tcp://[]:6379', 'empty host'],
    ['REDIS_PORT_6379_TCP', 'tcp://redis', 'is not tcp://<host>:<port>'],
    ['REDIS_PORT_6379_TCP', 'udp://h:6379', 'is not tcp://<host>:<port>'],
  ])('%s=%s', (name, value, expected) => {
    const msg = errorOf({ [name]: value });
    expect(msg).toContain(name);
    expect(msg).toContain(expected);
    expect(msg).toMatch(/for example (REDIS_PORT_6379_TCP=)?tcp:\/\/10\.0\.0\.5:6379/);
  });
});
