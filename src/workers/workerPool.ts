/**
 * AMBASSADOR_WORKERS=N: Node relays on one core, Redis does not, so N worker processes share the
 * listening ports (node:cluster hands each accepted connection to a worker in turn; every session
 * stays within one worker, so 1:1 semantics are untouched). The primary carries no traffic: it
 * restarts workers that die, serves the admin endpoint with the workers' metrics added up through
 * prom-client's AggregatorRegistry, answers /readyz from its own upstream probes, and on SIGTERM
 * passes the signal on and exits once every worker has drained.
 */
import cluster, { type Worker } from 'node:cluster';
import type { AmbassadorConfig } from '../config/settings.js';
import type { Logger } from '../log/logger.js';
import { AdminServer } from '../admin/adminServer.js';
import { ListenerStats } from '../metrics/listenerStats.js';
import { aggregatedMetrics } from '../metrics/workerMetrics.js';
import { TRAITS } from '../resp/commandTraits.js';
import type { Runtime } from '../runtime.js';
import { ReloadStats } from '../metrics/reloadStats.js';
import { Secrets } from '../secrets/secrets.js';
import { UpstreamProbes } from '../upstream/upstreamProbes.js';

export class WorkerPool implements Runtime {
  private readonly probes: UpstreamProbes;
  private readonly secrets: Secrets;
  private admin: AdminServer | null = null;
  private stopping = false;

  constructor(
    private readonly config: AmbassadorConfig,
    private readonly log: Logger,
  ) {
    // Its own probes only feed /readyz; the counters they keep are the workers' to publish.
    const primary = log.child({ role: 'primary' });
    const statsOf = (name: string): ListenerStats => new ListenerStats(name, TRAITS.size);
    // Its own secrets too: its probes authenticate upstream (and reach TLS upstreams) with them.
    this.secrets = new Secrets(config, primary, new ReloadStats(), statsOf);
    const store = this.secrets.store;
    this.probes = new UpstreamProbes(config, () => store.upstreamPreamble(), statsOf, primary, () => {}, store.upstreamTls);
  }

  async start(): Promise<void> {
    // Structured clone keeps +Inf (a listener without a certificate) that JSON would turn into null.
    cluster.setupPrimary({ serialization: 'advanced' });
    for (let i = 1; i <= this.config.workers; i++) this.fork(i);
    cluster.on('exit', (worker: Worker, code: number | null, signal: string | null) => {
      if (this.stopping) return;
      const id = Number((worker as Worker & { workerId?: number }).workerId ?? 0);
      this.log.error('worker exited; starting another', { worker: id, code, signal });
      this.fork(id);
    });
    this.secrets.start();
    this.probes.start();
    if (this.config.admin) {
      this.admin = new AdminServer(aggregatedMetrics(), this.probes, this.log);
      await this.admin.listen(this.config.admin);
      this.log.info('admin listening', { address: `${this.config.admin.host}:${this.admin.port}`, workers: this.config.workers });
    }
  }

  /** SIGHUP: each worker re-reads the secret files itself; the primary does too, for its probes. */
  reload(trigger: string): void {
    this.secrets.reload(trigger);
    for (const w of Object.values(cluster.workers ?? {})) w?.process.kill('SIGHUP');
  }

  /** Passes the stop on to every worker and resolves when all have exited (or the timeout passed). */
  async stop(): Promise<void> {
    this.stopping = true;
    this.secrets.stop();
    this.probes.stop();
    const workers = Object.values(cluster.workers ?? {}).filter((w): w is Worker => w !== undefined);
    const exited = workers.map((w) => new Promise<void>((resolve) => (w.isDead() ? resolve() : w.once('exit', () => resolve()))));
    for (const w of workers) w.process.kill('SIGTERM');
    const deadline = new Promise<void>((resolve) => setTimeout(resolve, this.config.shutdownTimeoutMs + 1000).unref());
    await Promise.race([Promise.all(exited), deadline]);
    for (const w of workers) if (!w.isDead()) w.process.kill('SIGKILL');
    await this.admin?.close();
  }

  private fork(id: number): void {
    const worker = cluster.fork({ AMBASSADOR_WORKER_ID: String(id) }) as Worker & { workerId?: number };
    worker.workerId = id;
  }
}
