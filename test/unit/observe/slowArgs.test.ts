/**
 * The slow log's arguments against Redis's own SLOWLOG (slowlog.c), from the same commands:
 * at most 32 shown, the last as "... (N more arguments)"; strings over 128 bytes cut with
 * "... (N more bytes)"; secrets "(redacted)" where Redis redacts them. Each capture form is
 * checked: a view of the frame, a digest of a frame that spanned chunks, decoded arguments.
 */
import { describe, expect, it } from 'vitest';
import { encodeCommand } from '../../../src/resp/commandCodec.js';
import { digestFrame, slowArgs } from '../../../src/observe/slowArgs.js';
import { direct } from '../../support/rawClient.js';
import { redisForSuite } from '../../support/redisServer.js';
import { plain, type RespValue } from '../../support/resp.js';

const long = (n: number, c = 'x'): string => c.repeat(n);
const COMMANDS: string[][] = [
  ['SET', 'k', 'v'],
  ['SET', 'k', long(129)],
  ['SET', long(200, 'k'), long(128)],
  ['RPUSH', 'l', ...Array.from({ length: 31 }, (_, i) => `e${i}`)], // 33 arguments
  ['RPUSH', 'l', ...Array.from({ length: 30 }, (_, i) => `e${i}`)], // 32: all shown
  ['MSET', ...Array.from({ length: 100 }, (_, i) => (i % 7 === 0 ? long(300, 'v') : `a${i}`))],
  ['AUTH', 'nobody', 'secret-password'],
  ['AUTH', 'secret-password'],
  ['HELLO', '2', 'AUTH', 'default', 'secret-password', 'SETNAME', 'app'],
  ['ACL', 'SETUSER', 'slowlog-test-user', 'on', '>secret-password'],
  ['CONFIG', 'SET', 'maxmemory-policy', 'noeviction', 'masterauth', 'secret-password'],
];

describe('slow log arguments are what Redis SLOWLOG shows', () => {
  const redis = redisForSuite();

  it('truncates and redacts as redis-server 7.0 does, from a frame, a digest and decoded arguments', async () => {
    const port = redis().port;
    await direct(port, ['CONFIG', 'SET', 'slowlog-log-slower-than', '0'], ['SLOWLOG', 'RESET']);
    for (const c of COMMANDS) {
      const [, , log] = await direct(port, ['SLOWLOG', 'RESET'], c, ['SLOWLOG', 'GET', '1']);
      const entry = plain(log as RespValue) as unknown[][];
      const redisArgs = (entry[0]![3] as unknown[]).map(String);
      const frame = encodeCommand(c);
      expect([c[0], slowArgs(frame)]).toEqual([c[0], redisArgs]);
      expect([c[0], slowArgs(digestFrame(frame)!)]).toEqual([c[0], redisArgs]);
      expect([c[0], slowArgs(c.map((a) => Buffer.from(a)))]).toEqual([c[0], redisArgs]);
    }
    await direct(port, ['ACL', 'DELUSER', 'slowlog-test-user']);
  });

  it('keeps a digest small whatever the frame (at most 32 × (128 + suffix) bytes)', () => {
    const frame = encodeCommand(['MSET', ...Array.from({ length: 10_000 }, () => long(10_000))]);
    const d = digestFrame(frame)!;
    expect(frame.length).toBeGreaterThan(100_000_000);
    expect(d.length).toBeLessThan(32 * (128 + 40));
    expect(slowArgs(d)!.at(-1)).toBe('... (9970 more arguments)');
  });

  it('shows binary arguments quoted, as redis-cli does, and text as it is', () => {
    expect(slowArgs(encodeCommand(['SET', Buffer.from([0x6b, 0x00, 0xff]), 'héllo']))).toEqual(['SET', '"k\\x00\\xff"', 'héllo']);
  });
});
