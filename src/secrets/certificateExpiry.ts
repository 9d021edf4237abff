/**
 * Publishes, per listener, when each certificate it depends on expires: its own and its client
 * CA where it speaks TLS, the client certificate and CA of its upstream where that is TLS. Run at
 * start and after every TLS reload; the gauge itself counts down at scrape time.
 */
import { targetAddresses, type ListenerSpec } from '../config/listenerSpec.js';
import type { AmbassadorConfig } from '../config/settings.js';
import type { ListenerStats } from '../metrics/listenerStats.js';
import type { SecretStore } from './secretStore.js';

export function publishExpiry(config: AmbassadorConfig, store: SecretStore, statsOf: (listener: string) => ListenerStats): void {
  const listen = store.listenerTls();
  const upstream = store.upstreamTlsMaterial();
  for (const spec of config.listeners) {
    const stats = statsOf(spec.name);
    const tlsHere = listen !== null && (config.tlsListen?.ports.has(spec.port) ?? false);
    stats.certificateExpiry('listener', tlsHere ? listen.certExpires : null);
    stats.certificateExpiry('ca', tlsHere ? listen.caExpires : null);
    const tlsUpstream = usesTlsUpstream(spec, config.tlsMasters);
    stats.certificateExpiry('client', tlsUpstream ? upstream.certExpires : null);
    stats.certificateExpiry('upstream_ca', tlsUpstream ? upstream.caExpires : null);
  }
}

function usesTlsUpstream(spec: ListenerSpec, tlsMasters: boolean): boolean {
  return spec.target.kind === 'sentinel' ? tlsMasters : targetAddresses(spec.target).some((a) => a.tls);
}
