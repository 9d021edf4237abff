/**
 * Opens the upstream side of a session. A refused or timed-out attempt is retried with
 * exponential backoff (50 ms doubling, at most 1 s apart) until the window runs out; then the
 * caller gets the last error and answers its client with it.
 */
import net from 'node:net';
import type { UpstreamAddress } from '../config/address.js';

export interface ConnectOptions {
  readonly timeoutMs: number;
  readonly windowMs: number;
  /** Called for every failed attempt (for the connect-failures counter). */
  readonly onAttemptFailed?: (err: Error) => void;
}

export interface ConnectHandle {
  cancel(): void;
}

export class UpstreamUnreachable extends Error {
  constructor(
    readonly upstream: string,
    readonly attempts: number,
    readonly elapsedMs: number,
    override readonly cause: Error,
  ) {
    super(`upstream ${upstream} unreachable after ${attempts} attempt${attempts === 1 ? '' : 's'} in ${elapsedMs} ms: ${describe(cause)}`);
  }
}

export function connectUpstream(
  addr: UpstreamAddress,
  opts: ConnectOptions,
  done: (err: UpstreamUnreachable | null, socket: net.Socket | null) => void,
): ConnectHandle {
  const started = Date.now();
  let attempts = 0;
  let socket: net.Socket | null = null;
  let timer: NodeJS.Timeout | null = null;
  let cancelled = false;

  const attempt = (): void => {
    attempts++;
    const s = net.connect({ host: addr.host, port: addr.port, noDelay: true, keepAlive: true, keepAliveInitialDelay: 30_000 });
    socket = s;
    s.setTimeout(opts.timeoutMs);
    const fail = (err: Error): void => {
      s.removeAllListeners();
      s.on('error', () => {});
      s.destroy();
      if (cancelled) return;
      opts.onAttemptFailed?.(err);
      const elapsed = Date.now() - started;
      const delay = Math.min(1000, 50 * 2 ** (attempts - 1));
      if (elapsed + delay >= opts.windowMs) {
        done(new UpstreamUnreachable(addr.url, attempts, elapsed, err), null);
        return;
      }
      timer = setTimeout(attempt, delay);
    };
    s.once('error', fail);
    s.once('timeout', () => fail(Object.assign(new Error(`connect timed out after ${opts.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
    s.once('connect', () => {
      s.removeAllListeners();
      s.setTimeout(0);
      if (cancelled) {
        s.destroy();
        return;
      }
      done(null, s);
    });
  };

  attempt();
  return {
    cancel(): void {
      cancelled = true;
      if (timer) clearTimeout(timer);
      if (socket && socket.connecting) socket.destroy();
    },
  };
}

function describe(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code && !err.message.includes(code) ? `${code} ${err.message}` : err.message;
}
