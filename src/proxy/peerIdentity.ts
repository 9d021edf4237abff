/**
 * The identity a verified client certificate carries, and which line of
 * AMBASSADOR_TLS_CLIENT_USERS_FILE it selects: the subject CN, or, for a certificate without a
 * CN, its DNS and URI subject alternative names. Anything ambiguous selects nothing.
 */
import type { PeerCertificate } from 'node:tls';
import type { ClientUser, ClientUsers } from '../config/secretSettings.js';

export interface PeerIdentity {
  readonly cn: string | null;
  /** DNS and URI subject alternative names, in the certificate's order. */
  readonly sans: readonly string[];
}

export function peerIdentity(cert: PeerCertificate): PeerIdentity {
  // Node gives an array where the subject holds the attribute twice: that is no single name.
  const cn = typeof cert.subject?.CN === 'string' ? cert.subject.CN : null;
  const sans = (cert.subjectaltname ?? '')
    .split(', ')
    .map((entry) => /^(?:DNS|URI):(.+)$/.exec(entry)?.[1])
    .filter((v): v is string => v !== undefined);
  return { cn, sans };
}

export type IdentityMatch =
  | { readonly kind: 'user'; readonly identity: string; readonly user: ClientUser }
  | { readonly kind: 'none' | 'ambiguous' };

export function matchIdentity(users: ClientUsers, id: PeerIdentity): IdentityMatch {
  const names = id.cn !== null ? [id.cn] : id.sans;
  const found = [...new Set(names)].filter((n) => users.has(n));
  if (found.length === 0) return { kind: 'none' };
  if (found.length > 1) return { kind: 'ambiguous' };
  return { kind: 'user', identity: found[0]!, user: users.get(found[0]!)! };
}

/** How the identity reads in logs: CN and SANs, never anything else of the certificate. */
export function describeIdentity(id: PeerIdentity): string {
  return [id.cn !== null ? `CN=${id.cn}` : null, ...id.sans.map((s) => `SAN=${s}`)].filter((x) => x !== null).join(' ') || '(no CN or SAN)';
}
