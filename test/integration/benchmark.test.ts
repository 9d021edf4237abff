/**
 * A short redis-benchmark run through the ambassador (inline and multibulk PING, SET, GET, LPUSH,
 * 10 clients) finishes without errors, and every request is counted and matched.
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { unmatched } from '../support/metricsText.js';
import { Cleanup, run } from '../support/processes.js';
import { startStack, type Stack } from '../support/ambassadorPresets.js';

const cleanup = new Cleanup();
let stack: Stack;

beforeAll(async () => {
  stack = await startStack(cleanup);
});
afterAll(() => cleanup.run());

describe('redis-benchmark', () => {
  it('-t ping,set,get,lpush -n 5000 -c 10 finishes with no errors; counts exact', async () => {
    const r = await run('redis-benchmark', ['-p', String(stack.port), '-t', 'ping,set,get,lpush', '-n', '5000', '-c', '10', '--csv'], {
      timeoutMs: 60_000,
    });
    expect(r.code, r.stderr).toBe(0);
    expect(`${r.stdout}\n${r.stderr}`).not.toMatch(/error/i);
    const tests = r.stdout
      .split('\n')
      .filter((l) => l.startsWith('"') && !l.startsWith('"test"'))
      .map((l) => JSON.parse(`[${l}]`)[0] as string);
    expect(tests).toEqual(['PING_INLINE', 'PING_MBULK', 'SET', 'GET', 'LPUSH']);
    const m = (cmd: string) => stack.amb.metric('redis_ambassador_commands_total', { cmd });
    expect(await m('ping')).toBe(10_000); // 5000 inline + 5000 multibulk
    expect(await m('set')).toBe(5000);
    expect(await m('get')).toBe(5000);
    expect(await m('lpush')).toBe(5000);
    expect(await stack.amb.metric('redis_ambassador_command_errors_total')).toBe(0);
    expect(unmatched(await stack.amb.metrics())).toEqual({});
  });
});
