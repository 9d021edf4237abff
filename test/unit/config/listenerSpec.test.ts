/**
 * The one parser of listener targets, used by the environment contract and the --upstream flag:
 * one URL is a static target, several a candidate list (a URL named twice is refused on either
 * path), `sentinel://` and `_SENTINEL` values a Sentinel target; errors name where the value came from.
 */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/configError.js';
import { listenersFromEnv } from '../../../src/config/listenerContract.js';
import { listenersFromFlags } from '../../../src/config/listenerFlags.js';
import { describeTarget, parseSentinel, parseTarget, parseUpstreamList, targetAddresses, type ListenerTarget } from '../../../src/config/listenerSpec.js';

function errorOf(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

const tcp = (host: string, port: number) => ({ host, port, tls: false, url: `tcp://${host.includes(':') ? `[${host}]` : host}:${port}` });

describe('parseUpstreamList', () => {
  it('one URL is a static target', () => {
    expect(parseUpstreamList('tcp://10.0.0.5:6379', 'X')).toEqual({ kind: 'static', upstream: tcp('10.0.0.5', 6379) });
  });

  it('several URLs are an ordered candidate list, blanks around them dropped, TLS schemes included', () => {
    expect(parseUpstreamList('tcp://b:2, tcp://a:1 ,rediss://c:3,tls://d:4', 'X')).toEqual({
      kind: 'candidates',
      candidates: [tcp('b', 2), tcp('a', 1), { host: 'c', port: 3, tls: true, url: 'rediss://c:3' }, { host: 'd', port: 4, tls: true, url: 'rediss://d:4' }],
    });
  });

  it('a comma not followed by a scheme is part of the host, as socat\'s greedy sed reads it', () => {
    expect(parseUpstreamList('tcp://a,b:1', 'X')).toEqual({ kind: 'static', upstream: tcp('a,b', 1) });
  });

  it.each([
    ['tcp://h:1,tcp://h:1', 'tcp://h:1'],
    ['tcp://h:1,tcp://g:2,tcp://h:1', 'tcp://h:1'],
    // The same address however it is written: tls:// and rediss:// are one scheme.
    ['rediss://h:1,tls://h:1', 'rediss://h:1'],
    ['tcp://[::1]:1,tcp://[::1]:1', 'tcp://[::1]:1'],
  ])('%s: refused, naming the repeated URL and where it came from', (value, repeated) => {
    expect(errorOf(() => parseUpstreamList(value, 'REDIS_PORT_6379_TCP'))).toBe(`REDIS_PORT_6379_TCP: ${repeated} appears twice in the candidate list`);
  });

  it('the same host with another port, or without TLS, is another candidate', () => {
    expect(targetAddresses(parseUpstreamList('tcp://h:1,tcp://h:2,rediss://h:1', 'X')).map((u) => u.url)).toEqual(['tcp://h:1', 'tcp://h:2', 'rediss://h:1']);
  });

  it('a bad URL anywhere in the list is refused with its own reason', () => {
    expect(errorOf(() => parseUpstreamList('tcp://a:1,tcp://b:0', 'X'))).toBe('X: "tcp://b:0" has port "0", expected 1-65535 (for example tcp://10.0.0.5:6379)');
    expect(errorOf(() => parseUpstreamList('tcp://a:1,tcp://:2', 'X'))).toContain('has an empty host');
    expect(errorOf(() => parseUpstreamList('tcp://user:secret@h:1', 'X'))).not.toContain('secret');
  });
});

describe('the duplicate check on both paths', () => {
  it('the environment: REDIS_PORT_6379_TCP with a repeated candidate', () => {
    expect(errorOf(() => listenersFromEnv({ REDIS_PORT_6379_TCP: 'tcp://h:1,tcp://g:2,tcp://h:1' }))).toBe(
      'REDIS_PORT_6379_TCP: tcp://h:1 appears twice in the candidate list',
    );
  });

  it('the flags: --upstream with a repeated candidate', () => {
    expect(errorOf(() => listenersFromFlags([{ listen: '7000', upstream: 'tcp://h:1,tcp://h:1' }]))).toBe(
      '--upstream for --listen 7000: tcp://h:1 appears twice in the candidate list',
    );
  });

  it('both paths give the same target for the same value', () => {
    const value = 'tcp://a:1,rediss://b:2';
    const [fromEnv] = listenersFromEnv({ REDIS_PORT_6379_TCP: value }).listeners;
    const [fromFlag] = listenersFromFlags([{ listen: '6379', upstream: value }]);
    expect(fromFlag!.target).toEqual(fromEnv!.target);
  });
});

describe('parseSentinel', () => {
  it('reads <master-name>@host:port[,host:port…], blanks dropped, IPv6 in brackets', () => {
    expect(parseSentinel('mymaster@10.0.0.7:26379, [fd00::8]:26380', 'X')).toEqual({
      kind: 'sentinel',
      sentinel: { masterName: 'mymaster', sentinels: [{ host: '10.0.0.7', port: 26379 }, { host: 'fd00::8', port: 26380 }] },
    });
  });

  it.each([
    ['', 'is not <master-name>@<host>:<port>'],
    ['10.0.0.7:26379', 'is not <master-name>@<host>:<port>'],
    ['@10.0.0.7:26379', 'is not <master-name>@<host>:<port>'],
    ['mymaster@', 'is not <master-name>@<host>:<port>'],
    ['mymaster@10.0.0.7', 'is not <host>:<port>'],
    ['mymaster@10.0.0.7:0', 'has a bad port'],
    ['mymaster@10.0.0.7:abc', 'has a bad port'],
    ['mymaster@:26379', 'has an empty host'],
    ['mymaster@10.0.0.7:26379,', 'is not <host>:<port>'],
  ])('%j is refused: %s', (value, expected) => {
    const msg = errorOf(() => parseSentinel(value, 'REDIS_PORT_6379_SENTINEL'));
    expect(msg.startsWith('REDIS_PORT_6379_SENTINEL: ')).toBe(true);
    expect(msg).toContain(expected);
  });

  it('the shape errors show a good example', () => {
    expect(errorOf(() => parseSentinel('nope', 'X'))).toContain('for example REDIS_PORT_6379_SENTINEL=mymaster@10.0.0.7:26379,10.0.0.8:26379');
    expect(errorOf(() => parseSentinel('m@:1', 'X'))).toContain('for example REDIS_PORT_6379_SENTINEL=mymaster@10.0.0.7:26379,10.0.0.8:26379');
  });
});

describe('parseTarget (the --upstream flag)', () => {
  it('sentinel://<master-name>@host:port is a Sentinel target', () => {
    expect(parseTarget('sentinel://mymaster@127.0.0.1:26379', 'X')).toEqual({
      kind: 'sentinel',
      sentinel: { masterName: 'mymaster', sentinels: [{ host: '127.0.0.1', port: 26379 }] },
    });
  });

  it('anything else is an upstream list', () => {
    expect(parseTarget('tcp://h:1', 'X')).toEqual({ kind: 'static', upstream: tcp('h', 1) });
    expect(parseTarget('tcp://h:1,tcp://g:2', 'X').kind).toBe('candidates');
  });

  it('errors name the flag', () => {
    expect(errorOf(() => parseTarget('sentinel://', '--upstream for --listen 7000'))).toMatch(/^--upstream for --listen 7000: "" is not <master-name>@/);
    expect(errorOf(() => parseTarget('h:1', '--upstream for --listen 7000'))).toMatch(/^--upstream for --listen 7000: "h:1" is not tcp:\/\/<host>:<port>/);
  });
});

describe('targetAddresses and describeTarget', () => {
  const targets: [ListenerTarget, string[], string][] = [
    [parseTarget('tcp://h:1', 'X'), ['tcp://h:1'], 'tcp://h:1'],
    [parseTarget('tcp://h:1,rediss://g:2', 'X'), ['tcp://h:1', 'rediss://g:2'], 'tcp://h:1,rediss://g:2'],
    [parseTarget('sentinel://m@a:1,[::1]:2', 'X'), [], 'sentinel m@a:1,[::1]:2'],
  ];
  it.each(targets)('%j', (target, urls, described) => {
    expect(targetAddresses(target).map((u) => u.url)).toEqual(urls);
    expect(describeTarget(target)).toBe(described);
  });
});
