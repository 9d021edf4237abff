/**
 * Bad input gets what Redis gives: the same bytes as redis-server answers to the same input
 * (compared live against a direct connection), then that connection is closed; commands before
 * the bad bytes are answered first; other clients never notice; the process stays up.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { healthz } from '../support/ambassadorProcess.js';
import { startStack, type Stack } from '../support/ambassadorPresets.js';
import { baseline } from '../support/metricsText.js';
import { Cleanup } from '../support/processes.js';
import { exchangeUntilClose, openClient } from '../support/rawClient.js';
import { cmd, plain } from '../support/resp.js';
import { sleep, waitUntil } from '../support/wait.js';

const cleanup = new Cleanup();
let stack: Stack;

beforeAll(async () => {
  stack = await startStack(cleanup);
});
afterAll(() => cleanup.run());

const show = (b: Buffer) => JSON.stringify(b.toString('latin1'));

/** Sends the same bytes to redis-server directly and through the ambassador; both until closed. */
async function both(data: Buffer | string, timeoutMs = 10_000): Promise<{ direct: Buffer; via: Buffer }> {
  const [direct, via] = await Promise.all([exchangeUntilClose(stack.redis.port, data, timeoutMs), exchangeUntilClose(stack.port, data, timeoutMs)]);
  return { direct, via };
}

describe('inline commands', () => {
  it('PING and ECHO hello as telnet sends them are answered as by redis-server', async () => {
    const c = await openClient(cleanup, stack.port);
    await c.write('PING\r\nECHO hello\r\nSET inl "a b"\r\nGET inl\n');
    await c.waitForReplies(4);
    expect(c.text()).toBe('+PONG\r\n$5\r\nhello\r\n+OK\r\n$3\r\na b\r\n');
  });
});

describe('garbage: same error bytes as redis-server, then closed', () => {
  const cases: [string, string | Buffer][] = [
    ['*abc', '*abc\r\n'],
    ['*1 then a simple string', '*1\r\n+x\r\n'],
    ['negative bulk length', '*1\r\n$-5\r\n'],
    ['600 MB declared bulk (over proto-max-bulk-len)', '*1\r\n$600000000\r\n'],
    ['multibulk length over INT_MAX', '*3000000000\r\n'],
    ['unbalanced quotes inline', 'SET "abc\r\n'],
    ['a bulk length that is not a number', '*1\r\n$x\r\n'],
    ['an inline line over 64 KB without newline', 'A'.repeat(70_000)],
  ];
  for (const [what, data] of cases) {
    it(what, async () => {
      const { direct, via } = await both(data);
      expect(direct.toString('latin1')).toMatch(/^-ERR Protocol error: /); // the oracle behaves as assumed
      expect(show(via)).toBe(show(direct));
    });
  }

  it('commands pipelined before the bad bytes in the same write are answered first', async () => {
    const data = Buffer.concat([cmd('SET', 'pe:k', 'v'), Buffer.from('PING\r\n'), cmd('GET', 'pe:k'), Buffer.from('*1\r\n$-5\r\n'), cmd('PING')]);
    const { direct, via } = await both(data);
    expect(direct.toString('latin1')).toMatch(/^\+OK\r\n\+PONG\r\n\$1\r\nv\r\n-ERR Protocol error/);
    expect(show(via)).toBe(show(direct));
  });

  it('the bad bytes split over several writes, after a command split the same way', async () => {
    const parts = ['*1\r\n$4\r\nPI', 'NG\r\n*2\r\n$3\r\nGE', 'T\r\n', '+x\r\n'];
    const run = async (port: number) => {
      const c = await openClient(cleanup, port);
      for (const p of parts) {
        await c.write(p);
        await sleep(20);
      }
      await c.waitClosed();
      return c.received();
    };
    const [direct, via] = await Promise.all([run(stack.redis.port), run(stack.port)]);
    expect(direct.toString('latin1')).toMatch(/^\+PONG\r\n-ERR Protocol error/);
    expect(show(via)).toBe(show(direct));
  });

  it('other clients connected at the same time keep working, the process stays up, side="client" errors are counted', async () => {
    const delta = await baseline(stack.amb.metrics);
    const bystander = await openClient(cleanup, stack.port);
    await bystander.write(Buffer.concat([cmd('MULTI'), cmd('SET', 'by:k', '1')]));
    await bystander.waitForReplies(2);
    const garbage = ['*abc\r\n', '*1\r\n+x\r\n', '*1\r\n$-5\r\n', '*1\r\n$600000000\r\n'];
    for (const g of garbage) await exchangeUntilClose(stack.port, g);
    // The bystander's transaction is intact on its own connection.
    await bystander.write(Buffer.concat([cmd('INCR', 'by:k'), cmd('EXEC'), cmd('PING')]));
    const r = (await bystander.waitForReplies(5)).map(plain);
    expect(r).toEqual(['OK', 'QUEUED', 'QUEUED', ['OK', 2], 'PONG']);
    expect(bystander.closed).toBe(false);
    expect(await healthz(stack.amb)).toBe(200);
    expect(stack.amb.process.exitCode).toBeNull();
    expect(await delta('redis_ambassador_protocol_errors_total', { side: 'client' })).toBe(garbage.length);
    expect(await delta('redis_ambassador_protocol_errors_total', { side: 'upstream' })).toBe(0);
    // New clients are served too.
    expect(plain((await (async () => {
      const c = await openClient(cleanup, stack.port);
      await c.write(cmd('ECHO', 'still here'));
      return (await c.waitForReplies(1))[0]!;
    })()))).toBe('still here');
  });
});

describe('large but legal input is not refused', () => {
  it('a command with 1.1 million arguments (Redis allows up to INT_MAX) is executed as by redis-server', async () => {
    const n = 1_100_000;
    const head = Buffer.from(`*${n + 2}\r\n$5\r\nRPUSH\r\n$7\r\nbig:arg\r\n`);
    const body = Buffer.from('$1\r\na\r\n'.repeat(n));
    const data = Buffer.concat([head, body, cmd('LLEN', 'big:arg'), cmd('DEL', 'big:arg'), cmd('QUIT')]);
    const direct = await exchangeUntilClose(stack.redis.port, data, 30_000);
    expect(direct.toString('latin1')).toBe(`:${n}\r\n:${n}\r\n:1\r\n+OK\r\n`);
    const c = await openClient(cleanup, stack.port);
    await c.write(data).catch(() => {});
    await waitUntil(() => c.closed || c.replies().length >= 4, { timeoutMs: 30_000, what: () => `4 replies or close; got ${show(c.received())}` });
    expect(show(c.received())).toBe(show(direct));
  });

  it('a 20 MB value in one SET goes through', async () => {
    const c = await openClient(cleanup, stack.port);
    const value = Buffer.alloc(20 * 1024 * 1024, 0x61);
    await c.write(Buffer.concat([cmd('SET', 'big:val', value), cmd('STRLEN', 'big:val'), cmd('DEL', 'big:val')]));
    expect((await c.waitForReplies(3, 30_000)).map(plain)).toEqual(['OK', value.length, 1]);
  });
});
