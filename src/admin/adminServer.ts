/**
 * The admin endpoint: /metrics (Prometheus text), /healthz (the process answers), /readyz
 * (every listener's upstream answers PING), /slowlog (AMBASSADOR_SLOWLOG_MS) and /hotkeys
 * (AMBASSADOR_HOTKEYS=on). Anything else is 404; only GET and HEAD are served. Responses carry
 * names and addresses, never credentials; key names (/hotkeys) and arguments (/slowlog with
 * AMBASSADOR_SLOWLOG_ARGS=on) only where those settings ask for them.
 */
import http from 'node:http';
import type { HostPort } from '../config/address.js';
import type { Logger } from '../log/logger.js';
import type { Readiness } from '../upstream/upstreamProbes.js';
import type { ObserveSource } from './observeViews.js';

/** Where /metrics comes from: one process's registry, or the workers' aggregate. */
export interface MetricsSource {
  readonly contentType: string;
  metrics(): Promise<string>;
}

export class AdminServer {
  private readonly server: http.Server;

  constructor(
    private readonly metrics: MetricsSource,
    private readonly readiness: Readiness,
    private readonly log: Logger,
    private readonly views: ObserveSource | null = null,
  ) {
    this.server = http.createServer((req, res) => {
      this.handle(req, res).catch((err: Error) => {
        this.log.error('admin request failed', { path: req.url, error: err.message });
        if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
        res.end('internal error\n');
      });
    });
    this.server.keepAliveTimeout = 5_000;
  }

  get port(): number {
    const a = this.server.address();
    return typeof a === 'object' && a !== null ? a.port : 0;
  }

  listen(addr: HostPort): Promise<void> {
    return new Promise((resolve, reject) => {
      this.server.once('error', reject);
      this.server.listen(addr.port, addr.host, () => {
        this.server.off('error', reject);
        resolve();
      });
    });
  }

  close(): Promise<void> {
    this.server.closeAllConnections();
    return new Promise((resolve) => this.server.close(() => resolve()));
  }

  private async handle(req: http.IncomingMessage, res: http.ServerResponse): Promise<void> {
    const [path, query = ''] = (req.url ?? '/').split('?') as [string, string?];
    if (req.method !== 'GET' && req.method !== 'HEAD') {
      res.writeHead(405, { allow: 'GET, HEAD', 'content-type': 'text/plain' });
      res.end('only GET and HEAD are served\n');
      return;
    }
    switch (path) {
      case '/metrics': {
        const body = await this.metrics.metrics();
        res.writeHead(200, { 'content-type': this.metrics.contentType });
        res.end(body);
        return;
      }
      case '/healthz':
        res.writeHead(200, { 'content-type': 'text/plain' });
        res.end('ok\n');
        return;
      case '/readyz': {
        const status = this.readiness.status();
        res.writeHead(status.ready ? 200 : 503, { 'content-type': 'application/json' });
        res.end(JSON.stringify(status) + '\n');
        return;
      }
      case '/slowlog': {
        const reset = new URLSearchParams(query).has('reset');
        return this.json(res, (await this.views?.slowlog(reset)) ?? null, 'the slow log is off: set AMBASSADOR_SLOWLOG_MS (milliseconds)');
      }
      case '/hotkeys':
        return this.json(res, (await this.views?.hotkeys()) ?? null, 'hot keys are off: set AMBASSADOR_HOTKEYS=on');
      default:
        res.writeHead(404, { 'content-type': 'text/plain' });
        res.end('not found: the admin endpoint serves /metrics, /healthz, /readyz, /slowlog and /hotkeys\n');
    }
  }

  /** `body` as JSON, or 404 with `off` where the feature is not on. */
  private json(res: http.ServerResponse, body: unknown, off: string): void {
    if (body === null) {
      res.writeHead(404, { 'content-type': 'text/plain' });
      res.end(`${off}\n`);
      return;
    }
    res.writeHead(200, { 'content-type': 'application/json' });
    res.end(JSON.stringify(body, null, 1) + '\n');
  }
}
