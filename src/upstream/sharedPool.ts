/**
 * A listener's shared upstream connections (AMBASSADOR_UPSTREAM_MODE=shared): a few connections
 * that carry many clients' commands, pipelined. Each new session is placed on one of them in turn
 * (a live one where possible) and keeps it while it has commands in flight, so its replies come
 * back in its order.
 */
import type { Logger } from '../log/logger.js';
import type { ListenerStats } from '../metrics/listenerStats.js';
import type { UpstreamDialer } from './dialer.js';
import { SharedConnection, type SharedConnectionSettings } from './sharedConnection.js';

export class SharedPool {
  private readonly connections: SharedConnection[];
  private next = 0;

  constructor(count: number, dialer: UpstreamDialer, settings: SharedConnectionSettings, stats: ListenerStats, log: Logger) {
    const gauge = (): void => {
      stats.sharedConnections = this.connections.filter((c) => c.live).length;
    };
    this.connections = Array.from({ length: count }, () => new SharedConnection(dialer, settings, log, stats.listener, gauge));
  }

  start(): void {
    for (const c of this.connections) c.start();
  }

  /** A connection for a session: the next live one in turn, else the next one. */
  assign(): SharedConnection {
    const n = this.connections.length;
    for (let k = 0; k < n; k++) {
      const c = this.connections[(this.next + k) % n]!;
      if (c.live) {
        this.next = (this.next + k + 1) % n;
        return c;
      }
    }
    const c = this.connections[this.next]!;
    this.next = (this.next + 1) % n;
    return c;
  }

  /** The listener's master moved. */
  retarget(reason: string): void {
    for (const c of this.connections) c.retarget(reason);
  }

  close(): void {
    for (const c of this.connections) c.close();
  }
}
