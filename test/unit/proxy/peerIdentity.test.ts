/** Which users-file line a verified certificate selects: its CN, else its DNS/URI SANs, never an ambiguous one. */
import type { PeerCertificate } from 'node:tls';
import { describe, expect, it } from 'vitest';
import { describeIdentity, matchIdentity, peerIdentity } from '../../../src/proxy/peerIdentity.js';

const cert = (subject: Record<string, unknown>, san?: string) => ({ subject, subjectaltname: san }) as unknown as PeerCertificate;
const USERS = new Map([
  ['app-1', { user: 'a', password: Buffer.from('x') }],
  ['spiffe://prod/web', { user: 'w', password: Buffer.from('y') }],
  ['web.internal', { user: 'v', password: Buffer.from('z') }],
]);

describe('peerIdentity and matchIdentity', () => {
  it('the CN selects, and a CN present wins over the SANs', () => {
    const id = peerIdentity(cert({ CN: 'app-1' }, 'URI:spiffe://prod/web'));
    expect(id).toEqual({ cn: 'app-1', sans: ['spiffe://prod/web'] });
    expect(matchIdentity(USERS, id)).toMatchObject({ kind: 'user', identity: 'app-1', user: { user: 'a' } });
  });

  it('without a CN, a DNS or URI SAN selects; IP and email SANs do not', () => {
    expect(matchIdentity(USERS, peerIdentity(cert({}, 'IP Address:10.0.0.1, URI:spiffe://prod/web')))).toMatchObject({ identity: 'spiffe://prod/web' });
    expect(matchIdentity(USERS, peerIdentity(cert({ O: 'x' }, 'email:app-1')))).toEqual({ kind: 'none' });
  });

  it('SANs naming two lines select none', () => {
    expect(matchIdentity(USERS, peerIdentity(cert({}, 'DNS:web.internal, URI:spiffe://prod/web')))).toEqual({ kind: 'ambiguous' });
  });

  it('a subject with two CNs is no single name', () => {
    expect(peerIdentity(cert({ CN: ['app-1', 'app-2'] })).cn).toBeNull();
  });

  it('an unknown CN selects nothing, even if a SAN would', () => {
    expect(matchIdentity(USERS, peerIdentity(cert({ CN: 'app-9' }, 'URI:spiffe://prod/web')))).toEqual({ kind: 'none' });
  });

  it('reads in logs as CN and SANs only', () => {
    expect(describeIdentity(peerIdentity(cert({ CN: 'app-1', O: 'secret-org' }, 'DNS:a.b')))).toBe('CN=app-1 SAN=a.b');
    expect(describeIdentity({ cn: null, sans: [] })).toBe('(no CN or SAN)');
  });
});
