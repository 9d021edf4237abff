/**
 * Opens the upstream side of a session. A refused or timed-out attempt is retried with
 * exponential backoff (50 ms doubling, at most 1 s apart) until the window runs out; then the
 * caller gets the last error and answers its client with it.
 */
import type net from 'node:net';
import type { UpstreamAddress } from '../config/address.js';
import { abandonUpstream, openUpstream } from './upstreamSocket.js';
import type { TlsSettings } from '../config/settings.js';

export interface ConnectOptions {
  readonly timeoutMs: number;
  readonly windowMs: number;
  /** TCP keepalive delay, 0 for none. */
  readonly keepaliveMs: number;
  readonly tls: TlsSettings | null;
  /** Called for every failed attempt (for the connect-failures counter). */
  readonly onAttemptFailed?: (upstream: string, err: Error) => void;
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

/** Where to connect; asked again before every attempt, since a failover may move it. */
export type AddressSource = () => UpstreamAddress | null;

export function connectUpstream(
  source: AddressSource,
  opts: ConnectOptions,
  done: (err: UpstreamUnreachable | null, socket: net.Socket | null, addr: UpstreamAddress | null) => void,
): ConnectHandle {
  const started = Date.now();
  let attempts = 0;
  let socket: net.Socket | null = null;
  let timer: NodeJS.Timeout | null = null;
  let cancelled = false;
  /** The attempt in flight was handed over (done called): cancel() no longer owns its socket. */
  let handedOver = false;

  let lastUrl = 'no master known';
  const attempt = (): void => {
    attempts++;
    const addr = source();
    if (addr === null) {
      retryOrGiveUp(new Error('no master is known for this listener yet'));
      return;
    }
    lastUrl = addr.url;
    const s = openUpstream(addr, opts.tls, opts.keepaliveMs, () => {
      s.removeAllListeners();
      s.setTimeout(0);
      if (cancelled) {
        s.destroy();
        return;
      }
      handedOver = true;
      done(null, s, addr);
    });
    socket = s;
    s.setTimeout(opts.timeoutMs);
    const fail = (err: Error): void => {
      abandonUpstream(s);
      if (cancelled) return;
      opts.onAttemptFailed?.(addr.url, err);
      retryOrGiveUp(err);
    };
    s.once('error', fail);
    s.once('timeout', () => fail(Object.assign(new Error(`connect timed out after ${opts.timeoutMs} ms`), { code: 'ETIMEDOUT' })));
  };

  const retryOrGiveUp = (err: Error): void => {
    const elapsed = Date.now() - started;
    const delay = backoffDelay(attempts);
    if (elapsed + delay >= opts.windowMs) {
      done(new UpstreamUnreachable(lastUrl, attempts, elapsed, err), null, null);
      return;
    }
    timer = setTimeout(attempt, delay);
  };

  attempt();
  return {
    cancel(): void {
      cancelled = true;
      if (timer) clearTimeout(timer);
      // Through TCP but still in its TLS handshake, a socket is no longer `connecting`: it is
      // destroyed all the same, rather than left to finish a handshake nobody waits for.
      if (socket && !handedOver) socket.destroy();
    },
  };
}

/** Milliseconds to wait after the `attempt`-th failed attempt (1-based): 50 ms doubling, at most 1 s. */
export function backoffDelay(attempt: number): number {
  return Math.min(1000, 50 * 2 ** (attempt - 1));
}

function describe(err: Error): string {
  const code = (err as NodeJS.ErrnoException).code;
  return code && !err.message.includes(code) ? `${code} ${err.message}` : err.message;
}
