/**
 * A listener's way to its upstream, as its sessions' links use it: where to connect now (the
 * selector decides), connecting with retry, what the health check knows of the server behind an
 * address, and telling the selector when a session saw trouble.
 */
import type net from 'node:net';
import type { UpstreamAddress } from '../config/address.js';
import type { TlsSettings } from '../config/settings.js';
import type { Logger } from '../log/logger.js';
import type { ListenerStats } from '../metrics/listenerStats.js';
import { connectUpstream, type ConnectHandle, type UpstreamUnreachable } from './connector.js';
import type { UpstreamIdentity } from './healthCheck.js';
import type { UpstreamSelector } from './upstreamSelector.js';

/** A burst of sessions losing their upstream at once asks the selector once, not once each. */
const SUSPECT_INTERVAL_MS = 200;

export interface DialSettings {
  readonly connectTimeoutMs: number;
  readonly tcpKeepaliveMs: number;
  readonly tls: TlsSettings | null;
}

export type DialDone = (err: UpstreamUnreachable | null, socket: net.Socket | null, addr: UpstreamAddress | null) => void;

export class UpstreamDialer {
  private lastSuspect = 0;

  constructor(
    private readonly selector: UpstreamSelector,
    readonly settings: DialSettings,
    private readonly stats: ListenerStats,
    private readonly log: Logger,
  ) {}

  /** Where sessions connect now (null while no master is known). */
  current(): UpstreamAddress | null {
    return this.selector.current();
  }

  /** Connects to wherever the traffic goes now, retrying (50 ms doubling to 1 s) for `windowMs`. */
  connect(windowMs: number, done: DialDone): ConnectHandle {
    const s = this.settings;
    return connectUpstream(
      () => this.selector.current(),
      {
        timeoutMs: s.connectTimeoutMs,
        windowMs,
        keepaliveMs: s.tcpKeepaliveMs,
        tls: s.tls,
        onAttemptFailed: (url) => this.stats.connectFailed(url),
      },
      done,
    );
  }

  /** Which server process `addr` reaches now, as its health check knows it (null: not known). */
  identityOf(addr: UpstreamAddress): UpstreamIdentity | null {
    return this.selector.healthOf(addr.url)?.identity() ?? null;
  }

  /** Whether the process `before` named still answers at `addr`, in the same role. */
  verify(addr: UpstreamAddress, before: UpstreamIdentity, done: (same: boolean, evidence: string) => void): void {
    const health = this.selector.healthOf(addr.url);
    if (health === null) done(false, 'the upstream is no longer probed (the master moved)');
    else health.verify(before, done);
  }

  /** A session saw the upstream fail or stop being master: probe now (at most every 200 ms). */
  suspect(reason: string): void {
    const now = Date.now();
    if (now - this.lastSuspect < SUSPECT_INTERVAL_MS) return;
    this.lastSuspect = now;
    this.log.debug('upstream suspected', { listener: this.stats.listener, reason });
    this.selector.suspect(reason);
  }
}
