/**
 * Backpressure both ways keeps the ambassador's memory bounded: a client that stops reading
 * makes the ambassador stop reading from Redis (Redis buffers, not us), and a Redis that stops
 * reading makes the ambassador stop reading from the client. Afterwards everything arrives intact.
 */
import { randomBytes } from 'node:crypto';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startStack, type Stack } from '../support/ambassadorPresets.js';
import { Cleanup, rssBytes } from '../support/processes.js';
import { call, openSocket } from '../support/rawClient.js';
import { maxOutputBuffer } from '../support/redisInfo.js';
import { cmd, resp2Parser } from '../support/resp.js';
import { sleep, waitUntil } from '../support/wait.js';

const MB = 1024 * 1024;
const RSS_LIMIT = 200 * MB;
/** How much the ambassador's RSS may grow while a client or Redis stalls (it would grow by ~150 MB without backpressure). */
const GROWTH_LIMIT = 80 * MB;

const cleanup = new Cleanup();
let stack: Stack;

beforeAll(async () => {
  stack = await startStack(cleanup);
});
afterAll(() => cleanup.run());

describe('backpressure', () => {
  it('a client that does not read: ambassador RSS stays bounded while Redis buffers; then all replies arrive intact', async () => {
    const value = randomBytes(MB);
    expect(await call(stack.redis.port, 'SET', 'bp:big', value)).toBe('OK');
    const N = 150; // 150 MB of replies
    const pid = stack.amb.process.pid!;
    const s = cleanup.add(await openSocket(stack.port), (x) => x.destroy());
    s.pause();
    await new Promise<void>((r) => s.write(Buffer.concat(Array.from({ length: N }, () => cmd('GET', 'bp:big'))), () => r()));

    const startRss = rssBytes(pid);
    let maxRss = startRss;
    const sample = () => (maxRss = Math.max(maxRss, rssBytes(pid)));
    // Until Redis holds most of the replies (or the ambassador has clearly taken them itself).
    await waitUntil(
      async () => {
        sample();
        return maxRss - startRss > GROWTH_LIMIT || (await maxOutputBuffer(stack.redis.port)) > 100 * MB;
      },
      { timeoutMs: 30_000, intervalMs: 100, what: () => `redis to buffer the replies (ambassador RSS ${Math.round(maxRss / MB)} MB)` },
    );
    // Keep not reading a little longer, watching the ambassador's memory.
    for (let i = 0; i < 10; i++) {
      sample();
      await sleep(100);
    }
    expect(Math.round(maxRss / MB)).toBeLessThan(RSS_LIMIT / MB);
    expect(Math.round((maxRss - startRss) / MB)).toBeLessThan(GROWTH_LIMIT / MB);

    // Now read: every reply complete and equal to the value, none lost, none extra.
    let count = 0;
    let bad = 0;
    const parser = resp2Parser((r) => {
      count++;
      if (!Buffer.isBuffer(r) || !r.equals(value)) bad++;
    });
    s.on('data', (d: Buffer) => parser.execute(d));
    s.resume();
    await waitUntil(() => count >= N, { timeoutMs: 60_000, what: () => `${N} replies, got ${count}` });
    await sleep(50);
    expect(count).toBe(N);
    expect(bad).toBe(0);
    expect(await stack.amb.metric('redis_ambassador_command_duration_seconds_count', { cmd: 'get' })).toBe(N);
  });

  it('a Redis that does not read (SIGSTOP): the ambassador stops reading the client, RSS bounded; after SIGCONT a 200 MB SET completes', async () => {
    const pid = stack.amb.process.pid!;
    const s = cleanup.add(await openSocket(stack.port), (x) => x.destroy());
    let replies = Buffer.alloc(0);
    s.on('data', (d: Buffer) => (replies = Buffer.concat([replies, d])));
    stack.redis.process.kill('SIGSTOP'); // a failed test leaves it stopped: teardown sends SIGCONT first

    const size = 200 * MB;
    const chunk = Buffer.alloc(MB, 0x62);
    let written = 0;
    const writer = (async () => {
      const write = (b: Buffer) => new Promise<void>((r) => (s.write(b) ? r() : s.once('drain', () => r())));
      await write(Buffer.from(`*3\r\n$3\r\nSET\r\n$7\r\nbp:huge\r\n$${size}\r\n`));
      for (let sent = 0; sent < size; sent += MB) {
        await write(chunk);
        written += MB;
      }
      await write(Buffer.from('\r\n'));
    })();

    // Wait until the writer is stuck (nothing more accepted for a while), watching memory.
    const startRss = rssBytes(pid);
    let maxRss = startRss;
    let last = -1;
    let stableSince = Date.now();
    await waitUntil(
      () => {
        maxRss = Math.max(maxRss, rssBytes(pid));
        if (written !== last) {
          last = written;
          stableSince = Date.now();
        }
        return written >= size || Date.now() - stableSince > 700;
      },
      { timeoutMs: 30_000, intervalMs: 50, what: 'the client writer to stall' },
    );
    expect(written).toBeLessThan(size); // it did stall: the ambassador did not swallow 200 MB
    expect(written).toBeLessThan(100 * MB);
    expect(Math.round(maxRss / MB)).toBeLessThan(RSS_LIMIT / MB);
    expect(Math.round((maxRss - startRss) / MB)).toBeLessThan(GROWTH_LIMIT / MB);

    stack.redis.process.kill('SIGCONT');
    await writer;
    await waitUntil(() => replies.length >= 5, { timeoutMs: 60_000, what: () => `+OK, got ${JSON.stringify(replies.toString())}` });
    expect(replies.toString()).toBe('+OK\r\n');
    expect(await call(stack.redis.port, 'STRLEN', 'bp:huge')).toBe(size);
    await call(stack.redis.port, 'DEL', 'bp:huge');
  });
});
