/**
 * Opens a connection to an upstream: plain TCP, or TLS for rediss:// and tls:// addresses
 * (verification on unless AMBASSADOR_TLS_VERIFY=off; SNI is the host name, or
 * AMBASSADOR_TLS_SERVERNAME). Sessions and health checks both come through here.
 */
import net from 'node:net';
import tls from 'node:tls';
import type { UpstreamAddress } from '../config/address.js';
import type { TlsSettings } from '../config/settings.js';

/** `ready` runs once the connection can carry commands (after the TLS handshake for TLS). */
export function openUpstream(addr: UpstreamAddress, settings: TlsSettings | null, keepaliveMs: number, ready: () => void): net.Socket {
  const common = { host: addr.host, port: addr.port, noDelay: true, keepAlive: keepaliveMs > 0, keepAliveInitialDelay: keepaliveMs };
  if (!addr.tls) {
    const s = net.connect(common);
    s.once('connect', ready);
    return s;
  }
  const t = settings;
  const s = tls.connect({
    ...common,
    // SNI must be a host name, never an IP address.
    servername: t?.servername ?? (net.isIP(addr.host) ? undefined : addr.host),
    rejectUnauthorized: t?.verify ?? true,
    ...(t?.ca ? { ca: t.ca } : {}),
    ...(t?.cert ? { cert: t.cert } : {}),
    ...(t?.key ? { key: t.key } : {}),
  });
  s.once('secureConnect', ready);
  return s;
}

/** Drops a connection for good: its late events are ignored, and an error it still raises cannot crash the process. */
export function abandonUpstream(s: net.Socket): void {
  s.removeAllListeners();
  s.on('error', () => {});
  s.destroy();
}
