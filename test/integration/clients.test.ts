/**
 * ioredis 6, the client most consumers use, through the ambassador with RESP3 (its default:
 * the first thing it sends is HELLO 3, the first reply a RESP3 map) and with RESP2.
 */
import { randomBytes } from 'node:crypto';
import { Redis } from 'ioredis';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/ambassadorPresets.js';
import { baseline, unmatched } from '../support/metricsText.js';
import { Cleanup } from '../support/processes.js';
import { waitBlockedClients } from '../support/redisInfo.js';
import { startTap } from '../support/tapProxy.js';
import { waitUntil } from '../support/wait.js';

const cleanup = new Cleanup();
let stack: Stack;

beforeAll(async () => {
  stack = await startStack(cleanup);
});
afterAll(() => cleanup.run());

function client(protocol: 2 | 3, extra: Record<string, unknown> = {}): Redis {
  const r = new Redis({ port: stack.port, host: '127.0.0.1', protocol, maxRetriesPerRequest: 1, retryStrategy: () => null, ...extra });
  r.on('error', () => {});
  cleanup.add(r, (x) => x.disconnect());
  return r;
}

describe('ioredis 6, protocol 3 (its default)', () => {
  it('the first reply it gets is the RESP3 map answering HELLO 3', async () => {
    const tap = cleanup.add(await startTap(stack.port), (t) => t.close());
    const r = new Redis({ port: tap.port, host: '127.0.0.1', retryStrategy: () => null });
    r.on('error', () => {});
    cleanup.add(r, (x) => x.disconnect());
    expect(await r.ping()).toBe('PONG');
    const first = tap.fromServer()[0]!;
    expect(String.fromCharCode(first[0]!)).toBe('%');
    expect(first.toString('latin1')).toMatch(/^%\d+\r\n\$6\r\nserver\r\n\$5\r\nredis\r\n/);
    expect(first.toString('latin1')).toMatch(/\$5\r\nproto\r\n:3\r\n/);
    expect(String(await r.client('INFO'))).toMatch(/\bresp=3\b/);
  });

  it('RESP3 maps reach it intact (replyMapping "resp3" turns them into objects)', async () => {
    const r = client(3, { replyMapping: 'resp3' });
    expect(await r.call('CONFIG', 'GET', 'maxmemory-policy')).toEqual({ 'maxmemory-policy': 'noeviction' });
  });
});

for (const protocol of [3, 2] as const) {
  describe(`ioredis 6 through the ambassador, protocol ${protocol}`, () => {
    const k = (s: string) => `io${protocol}:${s}`;

    it('speaks the asked-for protocol', async () => {
      const r = client(protocol);
      expect(String(await r.client('INFO'))).toMatch(new RegExp(`\\bresp=${protocol}\\b`));
    });

    it('set / get', async () => {
      const r = client(protocol);
      expect(await r.set(k('a'), 'hello')).toBe('OK');
      expect(await r.get(k('a'))).toBe('hello');
      expect(await r.get(k('missing'))).toBeNull();
    });

    it('a pipeline of 1000 commands, every reply in place and counted once', async () => {
      const r = client(protocol);
      await r.ping();
      const delta = await baseline(stack.amb.metrics);
      const p = r.pipeline();
      for (let i = 0; i < 500; i++) p.set(k(`p${i}`), String(i));
      for (let i = 0; i < 500; i++) p.get(k(`p${i}`));
      const results = await p.exec();
      expect(results).toHaveLength(1000);
      for (let i = 0; i < 500; i++) expect(results![i]).toEqual([null, 'OK']);
      for (let i = 0; i < 500; i++) expect(results![500 + i]).toEqual([null, String(i)]);
      expect(await delta('redis_ambassador_commands_total', { cmd: 'set' })).toBe(500);
      expect(await delta('redis_ambassador_commands_total', { cmd: 'get' })).toBe(500);
      expect(await delta('redis_ambassador_command_duration_seconds_count', { cmd: 'set' })).toBe(500);
      expect(await delta('redis_ambassador_command_duration_seconds_count', { cmd: 'get' })).toBe(500);
    });

    it('MULTI / EXEC', async () => {
      const r = client(protocol);
      const res = await r.multi().set(k('m'), '1').incr(k('m')).get(k('m')).exec();
      expect(res).toEqual([
        [null, 'OK'],
        [null, 2],
        [null, '2'],
      ]);
    });

    it('subscribe, then published messages arrive', async () => {
      const sub = client(protocol);
      const pub = client(protocol);
      const got: string[] = [];
      sub.on('message', (ch: string, msg: string) => got.push(`${ch}:${msg}`));
      await sub.subscribe(k('ch1'), k('ch2'));
      const delta = await baseline(stack.amb.metrics);
      for (let i = 0; i < 5; i++) await pub.publish(i % 2 ? k('ch2') : k('ch1'), `m${i}`);
      await waitUntil(() => got.length >= 5, { what: () => `5 messages, got ${JSON.stringify(got)}` });
      expect(got).toEqual([0, 1, 2, 3, 4].map((i) => `${i % 2 ? k('ch2') : k('ch1')}:m${i}`));
      expect(await delta('redis_ambassador_push_messages_total', { kind: 'message' })).toBe(5);
      await sub.unsubscribe();
      expect(await sub.ping()).toBe('PONG');
    });

    it('BLPOP is released by an LPUSH from another client', async () => {
      const a = client(protocol);
      const b = client(protocol);
      await a.ping();
      const delta = await baseline(stack.amb.metrics);
      const popped = a.blpop(k('q'), 0);
      await waitBlockedClients(stack.redis.port, 1);
      expect(await b.lpush(k('q'), 'released')).toBe(1);
      expect(await popped).toEqual([k('q'), 'released']);
      expect(await delta('redis_ambassador_blocking_command_duration_seconds_count', { cmd: 'blpop' })).toBe(1);
      expect(await delta('redis_ambassador_command_duration_seconds_count', { cmd: 'blpop' })).toBe(0);
    });

    it('a 1 MB binary value round-trips', async () => {
      const r = client(protocol);
      const value = randomBytes(1024 * 1024);
      expect(await r.set(k('big'), value)).toBe('OK');
      const back = await r.getBuffer(k('big'));
      expect(back!.length).toBe(value.length);
      expect(back!.equals(value)).toBe(true);
    });
  });
}

describe('after all of it', () => {
  it('every command ioredis sent was matched to its reply', async () => {
    expect(unmatched(await stack.amb.metrics())).toEqual({});
  });
});
