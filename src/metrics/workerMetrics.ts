/**
 * AMBASSADOR_WORKERS: each worker's metrics reach the primary, which serves them added up
 * (prom-client's AggregatorRegistry, over the node:cluster IPC channel).
 */
import client from 'prom-client';

/** In a worker: let the primary's AggregatorRegistry collect this process's registry. */
export function reportToPrimary(registry: client.Registry): void {
  client.AggregatorRegistry.setRegistries([registry]);
  // Constructing one installs the worker's side of the metrics request/response.
  new client.AggregatorRegistry();
}

/** In the primary: every worker's metrics, added up as each metric's table entry says. */
export function aggregatedMetrics(): { readonly contentType: string; metrics(): Promise<string> } {
  const aggregator = new client.AggregatorRegistry();
  return { contentType: aggregator.contentType, metrics: () => aggregator.clusterMetrics() };
}
