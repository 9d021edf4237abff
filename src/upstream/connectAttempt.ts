/**
 * The upstream connection a link is trying to open: a dial in progress, or the pause before the
 * next one. A link has at most one of either; stop() calls off whichever it is, so a link that
 * closes or retargets leaves nothing behind that could still hand it a socket.
 */
import type { ConnectHandle } from './connector.js';
import type { DialDone, UpstreamDialer } from './dialer.js';

/** After a connect window ran out with nothing reachable, the pause before the next attempt. */
export const RETRY_PAUSE_MS = 1000;

export class ConnectAttempt {
  private dialing: ConnectHandle | null = null;
  private retryTimer: NodeJS.Timeout | null = null;

  /** Dials through `dialer` for up to `windowMs`; `done` is told once, unless stop() comes first. */
  dial(dialer: UpstreamDialer, windowMs: number, done: DialDone): void {
    this.dialing = dialer.connect(windowMs, (err, socket, addr) => {
      this.dialing = null;
      done(err, socket, addr);
    });
  }

  /** Runs `again` after RETRY_PAUSE_MS, unless stop() comes first. */
  retryLater(again: () => void): void {
    this.retryTimer = setTimeout(() => {
      this.retryTimer = null;
      again();
    }, RETRY_PAUSE_MS);
  }

  stop(): void {
    this.dialing?.cancel();
    this.dialing = null;
    if (this.retryTimer) clearTimeout(this.retryTimer);
    this.retryTimer = null;
  }
}
