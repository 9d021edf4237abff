/**
 * One listening port of the contract and the sessions it accepted. Binds every interface, IPv6
 * and IPv4 (dual-stack "::"), falling back to 0.0.0.0 where the host has no IPv6, as in many
 * containers.
 */
import net from 'node:net';
import type { SessionAuth } from '../secrets/sessionAuth.js';
import type { UpstreamDialer } from '../upstream/dialer.js';
import type { ListenerRuntime } from './listenerRuntime.js';
import type { RequestGate } from './requestGate.js';
import { Session } from './session.js';
import { TlsTerminator, type TlsListen } from './tlsTerminator.js';

export class Listener {
  readonly sessions = new Set<Session>();
  private readonly server: net.Server;
  /** Where this listener speaks TLS: every connection passes it before it is a session. */
  private readonly tls: TlsTerminator | null;

  constructor(
    private readonly runtime: ListenerRuntime,
    private readonly configuredPort: number,
    private readonly dialer: UpstreamDialer,
    /** A gate for a new session where AMBASSADOR_REQUIREPASS or a command policy is set, else null. */
    private readonly newGate: () => RequestGate | null,
    private readonly maxClients: number,
    tls: TlsListen | null = null,
  ) {
    this.tls = tls === null ? null : new TlsTerminator(runtime, tls, (socket, auth) => this.accept(socket, auth));
    this.server = net.createServer({ allowHalfOpen: true, noDelay: true }, (socket) => {
      if (this.tls !== null) this.tls.handle(socket);
      else this.accept(socket, null);
    });
  }

  /** Whether this listener speaks TLS. */
  get secure(): boolean {
    return this.tls !== null;
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

  private accept(socket: net.Socket, auth: SessionAuth | null): void {
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
    const onClosed = (s: Session): void => {
      stats.clients--;
      this.sessions.delete(s);
    };
    const session = new Session(socket, this.runtime, this.dialer, this.newGate(), onClosed, auth ?? this.runtime.upstreamAuth);
    this.sessions.add(session);
    session.start();
  }
}
