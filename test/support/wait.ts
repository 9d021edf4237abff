/** Time in tests: polling for conditions (never waiting fixed times for them), and the clock. */
import { performance } from 'node:perf_hooks';

/** Monotonic milliseconds: what frames, acknowledgements and switch-overs are timestamped with. */
export const now = (): number => performance.now();

export async function waitUntil(
  cond: () => boolean | Promise<boolean>,
  opts: { timeoutMs?: number; intervalMs?: number; what?: string | (() => string) } = {},
): Promise<void> {
  const timeoutMs = opts.timeoutMs ?? 10_000;
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) {
      const what = typeof opts.what === 'function' ? opts.what() : (opts.what ?? 'condition');
      throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`);
    }
    await sleep(opts.intervalMs ?? 20);
  }
}

export function sleep(ms: number): Promise<void> {
  return new Promise((r) => setTimeout(r, ms));
}
