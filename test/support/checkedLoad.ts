/**
 * Traffic beside a misbehaving client that must not notice it: `redis-benchmark -c 20 -n 20000
 * -t set,get` run again and again through the proxy, and checker clients that each SET a key of
 * their own to a new value and GET it back, so a reply that went to the wrong client, or came
 * out of order, shows as a wrong value. Errors are never expected: redis-benchmark (7.0) exits
 * non-zero at the first error reply or lost connection, and a checker records every reply it
 * did not expect; each checker's last value is left on the server, to be read there.
 */
import { run, type RunResult } from './processes.js';
import { RawClient } from './rawClient.js';
import { plain } from './resp.js';

export interface LoadOutcome {
  /** Every redis-benchmark run, in order. */
  readonly benchmarks: readonly RunResult[];
  /** SET + GET rounds the checkers completed. */
  readonly checks: number;
  /** Every reply a checker did not expect ("checker 2, round 17: GET answered …"), or how it stopped. */
  readonly wrong: readonly string[];
  /** The value each checker's key must hold on the server now: key → value. */
  readonly lastValues: Readonly<Record<string, string>>;
}

export interface CheckedLoad {
  /** Resolves once the checkers have completed `rounds` more rounds between them. */
  flowing(rounds?: number): Promise<void>;
  /** Lets the running benchmark finish, stops the checkers and tells what the traffic saw. */
  stop(): Promise<LoadOutcome>;
}

/** The one key redis-benchmark -t set,get writes (no -r), and its value's length (-d 3; the bytes are random). */
export const BENCHMARK_KEY = 'key:__rand_int__';
export const BENCHMARK_VALUE_BYTES = 3;

export function checkedLoad(port: number, opts: { checkers?: number; timeoutMs?: number } = {}): CheckedLoad {
  let stopped = false;
  const benchmarks: RunResult[] = [];
  const wrong: string[] = [];
  const lastValues: Record<string, string> = {};
  let checks = 0;
  const waiters = new Set<() => void>();
  const bench = (async () => {
    // At least one whole run, however soon stop() is called.
    do {
      benchmarks.push(
        await run('redis-benchmark', ['-h', '127.0.0.1', '-p', String(port), '-c', '20', '-n', '20000', '-t', 'set,get', '-q'], {
          timeoutMs: opts.timeoutMs ?? 60_000,
        }),
      );
    } while (!stopped);
  })();
  const checker = async (id: number): Promise<void> => {
    let c: RawClient;
    try {
      c = await RawClient.connect(port);
    } catch (e) {
      wrong.push(`checker ${id}: could not connect: ${(e as Error).message}`);
      return;
    }
    try {
      for (let round = 1; !stopped; round++) {
        const value = `v:${id}:${round}`;
        lastValues[`check:${id}`] = value;
        const set = plain(await c.call(['SET', `check:${id}`, value], 10_000));
        const get = plain(await c.call(['GET', `check:${id}`], 10_000));
        if (set !== 'OK') wrong.push(`checker ${id}, round ${round}: SET answered ${JSON.stringify(set)}`);
        if (get !== value) wrong.push(`checker ${id}, round ${round}: GET answered ${JSON.stringify(get)}, not ${value}`);
        checks++;
        for (const w of [...waiters]) w();
      }
    } catch (e) {
      wrong.push(`checker ${id} stopped: ${(e as Error).message}`);
    } finally {
      c.close();
    }
  };
  const checkers = Array.from({ length: opts.checkers ?? 3 }, (_, i) => checker(i + 1));
  return {
    flowing: (rounds = 20) =>
      new Promise<void>((resolve, reject) => {
        const target = checks + rounds;
        const timer = setTimeout(() => {
          waiters.delete(check);
          reject(new Error(`checkers did not complete ${rounds} rounds within 20 s (${wrong.length} wrong: ${wrong.slice(0, 3).join('; ')})`));
        }, 20_000);
        const check = (): void => {
          if (checks < target) return;
          clearTimeout(timer);
          waiters.delete(check);
          resolve();
        };
        waiters.add(check);
      }),
    stop: async () => {
      stopped = true;
      await Promise.all([bench, ...checkers]);
      return { benchmarks, checks, wrong, lastValues };
    },
  };
}

/** What a failed expectation should show of a benchmark run. */
export function benchmarkSummary(r: RunResult): string {
  return JSON.stringify({ code: r.code, signal: r.signal, stdout: r.stdout.replace(/[^\n]*\r/g, '').slice(-400), stderr: r.stderr.slice(-400) });
}
