/**
 * TLS on a listener (AMBASSADOR_TLS_LISTEN_*). Every accepted connection goes through here
 * before it becomes a session:
 * - the first byte must open a TLS handshake (0x16); a client speaking plain RESP gets one
 *   `-ERR this port speaks TLS …` and is closed, so it never hangs waiting for a reply;
 * - the handshake must finish within AMBASSADOR_TLS_HANDSHAKE_TIMEOUT_MS (TLS 1.2 at least);
 * - with a client CA, the client's certificate is checked as the handshake completes, before a
 *   byte of the connection is read or an upstream connection is made: missing (where required),
 *   not signed by the CA, expired, or — with AMBASSADOR_TLS_CLIENT_USERS_FILE — an identity the
 *   file does not name, and the client gets one `-ERR` saying which and is closed.
 * Every refusal is logged (listener, peer, reason) and counted by reason. Verification is done
 * here rather than by OpenSSL's rejectUnauthorized, which drops such a connection without telling
 * anyone why. New handshakes use the material in force: a reload renews the context (and the
 * session-ticket keys, so no resumed session skips a new CA); open connections are not touched.
 */
import { randomBytes } from 'node:crypto';
import type net from 'node:net';
import tls from 'node:tls';
import type { ClientAuth, ListenTlsMaterial } from '../config/secretSettings.js';
import type { TlsFailureReason } from '../metrics/metricTable.js';
import { identityAuth, type SessionAuth } from '../secrets/sessionAuth.js';
import type { SecretStore } from '../secrets/secretStore.js';
import type { ListenerRuntime } from './listenerRuntime.js';
import { describeIdentity, matchIdentity, peerIdentity } from './peerIdentity.js';

const TLS_HANDSHAKE_RECORD = 0x16;

export interface TlsListen {
  readonly clientAuth: ClientAuth;
  readonly handshakeTimeoutMs: number;
  readonly store: SecretStore;
}

/** What the client is told when it is refused (it holds no secret: a TLS alert would say as much). */
const TOLD: Record<TlsFailureReason, string> = {
  plaintext: 'this port speaks TLS: connect with TLS (for example redis-cli --tls --cacert <ca.crt>)',
  timeout: 'TLS handshake timed out',
  protocol: 'TLS handshake failed',
  no_certificate: 'this port requires a client certificate signed by its CA (for example redis-cli --tls --cert <crt> --key <key>)',
  unknown_ca: 'the client certificate is not signed by a CA this port trusts',
  expired: 'the client certificate has expired',
  not_yet_valid: 'the client certificate is not valid yet',
  bad_certificate: 'the client certificate was refused',
  unknown_identity: "the client certificate's identity is not allowed on this port",
};

export class TlsTerminator {
  private readonly server: tls.Server;

  constructor(
    private readonly runtime: ListenerRuntime,
    private readonly opts: TlsListen,
    /** A connection that passed: its session authenticates upstream with `auth` (null: the listener's own). */
    private readonly accept: (socket: net.Socket, auth: SessionAuth | null) => void,
  ) {
    this.server = tls.createServer({
      ...contextOptions(opts.store.listenerTls()!),
      requestCert: opts.clientAuth !== 'off',
      rejectUnauthorized: false,
      handshakeTimeout: opts.handshakeTimeoutMs,
    });
    this.server.on('secureConnection', (s: tls.TLSSocket) => this.onSecure(s));
    this.server.on('tlsClientError', (err: NodeJS.ErrnoException, s: tls.TLSSocket) => this.onHandshakeFailed(err, s));
    opts.store.onListenerTls((m) => this.renew(m));
  }

  /** A raw connection the listener accepted. */
  handle(raw: net.Socket): void {
    const peer = `${raw.remoteAddress}:${raw.remotePort}`;
    const silent = (): void => {
      this.refused(peer, 'timeout', 'no byte within the handshake timeout');
      raw.destroy();
    };
    const gone = (): void => {
      raw.destroy();
    };
    raw.on('error', () => {});
    raw.setTimeout(this.opts.handshakeTimeoutMs, silent);
    raw.on('end', gone);
    raw.once('data', (chunk: Buffer) => {
      raw.setTimeout(0);
      raw.off('timeout', silent);
      raw.off('end', gone);
      if (chunk[0] !== TLS_HANDSHAKE_RECORD) return this.refuse(raw, peer, 'plaintext', 'the first bytes are not a TLS handshake');
      raw.pause();
      raw.unshift(chunk);
      // Half-open during the handshake would leave a client that hung up waiting for the
      // timeout; the session (after it) gets half-close back, as plain listeners have it.
      raw.allowHalfOpen = false;
      this.server.emit('connection', raw);
    });
  }

  private onSecure(s: tls.TLSSocket): void {
    s.allowHalfOpen = true;
    const peer = `${s.remoteAddress}:${s.remotePort}`;
    if (this.opts.clientAuth === 'off') return this.accept(s, null);
    const cert = s.getPeerCertificate();
    if (cert === null || cert.raw === undefined) {
      if (this.opts.clientAuth === 'require') return this.refuse(s, peer, 'no_certificate', 'no client certificate');
      return this.accept(s, null); // optional: a client without one is a client of the listener's own credentials
    }
    const id = peerIdentity(cert);
    if (!s.authorized) {
      const code = String(s.authorizationError ?? 'UNKNOWN');
      return this.refuse(s, peer, verifyReason(code), `${code} (${describeIdentity(id)})`);
    }
    this.runtime.log.debug('tls client verified', { listener: this.runtime.name, client: peer, identity: describeIdentity(id) });
    const users = this.opts.store.clientUsers();
    if (users === null) return this.accept(s, null);
    const match = matchIdentity(users, id);
    if (match.kind !== 'user') {
      const why = match.kind === 'ambiguous' ? 'its SANs name more than one line of' : 'not named in';
      return this.refuse(s, peer, 'unknown_identity', `${describeIdentity(id)} ${why} AMBASSADOR_TLS_CLIENT_USERS_FILE`);
    }
    this.runtime.log.debug('tls client mapped to an ACL user', { listener: this.runtime.name, client: peer, identity: match.identity, user: match.user.user });
    this.accept(s, identityAuth(this.opts.store, match.identity, match.user.user));
  }

  private onHandshakeFailed(err: NodeJS.ErrnoException, s: tls.TLSSocket): void {
    // A socket reset mid-handshake has lost its address by now; the raw socket under it (whose
    // address handle() read, and so kept) still has it.
    const raw = (s as tls.TLSSocket & { _parent?: net.Socket })._parent;
    const peer = s.remoteAddress !== undefined ? `${s.remoteAddress}:${s.remotePort}` : `${raw?.remoteAddress}:${raw?.remotePort}`;
    this.refused(peer, err.code === 'ERR_TLS_HANDSHAKE_TIMEOUT' ? 'timeout' : 'protocol', err.message);
    // Node reports the failure and leaves the socket open: it is ours to close.
    s.destroy();
  }

  /** Counts and logs the refusal, tells the client why, and closes once it has been told. */
  private refuse(s: net.Socket, peer: string, reason: TlsFailureReason, detail: string): void {
    this.refused(peer, reason, detail);
    // Keep reading (and dropping) what the client sent: closing with unread bytes would be a
    // reset, which can destroy the error before the client reads it.
    s.on('data', () => {});
    s.on('error', () => {});
    s.on('end', () => s.destroy());
    s.setTimeout(this.opts.handshakeTimeoutMs, () => s.destroy());
    s.end(`-ERR ${TOLD[reason]}\r\n`);
  }

  private refused(peer: string, reason: TlsFailureReason, detail: string): void {
    this.runtime.stats.tlsFailed(reason);
    this.runtime.log.warn('tls client refused', { listener: this.runtime.name, client: peer, reason, error: detail });
  }

  private renew(m: ListenTlsMaterial): void {
    this.server.setSecureContext(contextOptions(m));
    this.server.setTicketKeys(randomBytes(48));
  }
}

function contextOptions(m: ListenTlsMaterial): tls.SecureContextOptions {
  return { cert: m.cert, key: m.key, ...(m.ca !== null ? { ca: m.ca } : {}), minVersion: 'TLSv1.2' };
}

/** OpenSSL's verification error, as a reason of the bounded set. */
function verifyReason(code: string): TlsFailureReason {
  switch (code) {
    case 'CERT_HAS_EXPIRED':
      return 'expired';
    case 'CERT_NOT_YET_VALID':
      return 'not_yet_valid';
    case 'UNABLE_TO_VERIFY_LEAF_SIGNATURE':
    case 'UNABLE_TO_GET_ISSUER_CERT':
    case 'UNABLE_TO_GET_ISSUER_CERT_LOCALLY':
    case 'SELF_SIGNED_CERT_IN_CHAIN':
    case 'DEPTH_ZERO_SELF_SIGNED_CERT':
    case 'CERT_UNTRUSTED':
      return 'unknown_ca';
    default:
      return 'bad_certificate';
  }
}
