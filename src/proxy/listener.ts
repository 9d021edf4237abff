/**
 * One listening port of the contract and the sessions it accepted. Binds every interface, IPv6
 * and IPv4 (dual-stack "::"), falling back to 0.0.0.0 where the host has no IPv6, as in many
 * containers.
 */
import net from 'node:net';
import type { UpstreamDialer } from '../upstream/dialer.js';
import type { ListenerRuntime } from './listenerRuntime.js';
import type { RequestGate } from './requestGate.js';
import { Session } from './session.js';

export class Listener {
  readonly sessions = new Set<Session>();
  private readonly server: net.Server;

  constructor(
    private readonly runtime: ListenerRuntime,
    private readonly configuredPort: number,
    private readonly dialer: UpstreamDialer,
    /** A gate for a new session where AMBASSADOR_REQUIREPASS or a command policy is set, else null. */
    private readonly newGate: () => RequestGate | null,
    private readonly maxClients: number,
  ) {
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => this.accept(socket));
    runtime.stats.maxClients = maxClients;
  }

  get name(): string {
    return this.runtime.name;
  }

  /** The port actually bound (differs from the configured one only in tests that ask for 0). */
  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a !== null ? a.port : this.configuredPort;
  }

  async listen(bindHost: string | null): Promise<void> {
    if (bindHost !== null) return this.bind(bindHost);
    try {
      await this.bind('::');
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EAFNOSUPPORT' && code !== 'EADDRNOTAVAIL') throw err;
      await this.bind('0.0.0.0');
    }
  }

  /** The master moved: every session on another upstream moves (its commands in flight get errors). */
  upstreamChanged(reason: string): void {
    for (const s of this.sessions) s.upstreamChanged(reason);
  }

  /**
   * Stop accepting; existing sessions go on. Not awaited by shutdown: net.Server's close callback
   * only runs once every accepted connection has ended, i.e. after the drain.
   */
  stopAccepting(): void {
    this.server.close();
  }

  private bind(host: string): Promise<void> {
    return new Promise((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once('error', onError);
      this.server.listen({ host, port: this.configuredPort, ipv6Only: false }, () => {
        this.server.off('error', onError);
        resolve();
      });
    });
  }

  private accept(socket: net.Socket): void {
    const stats = this.runtime.stats;
    if (this.sessions.size >= this.maxClients) {
      // What redis-server answers past maxclients, then it closes.
      socket.on('error', () => {});
      socket.end('-ERR max number of clients reached\r\n');
      socket.destroySoon();
      stats.clientsRefused++;
      return;
    }
    stats.clients++;
    stats.clientsTotal++;
    const session = new Session(socket, this.runtime, this.dialer, this.newGate(), (s) => {
      stats.clients--;
      this.sessions.delete(s);
    });
    this.sessions.add(session);
    session.start();
  }
}
