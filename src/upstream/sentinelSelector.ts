/**
 * Sentinel decides the master. Every sentinel of the list gets a command connection and a
 * pub/sub connection (ioredis, RESP2: sentinels speak RESP2). The master is
 * - asked with SENTINEL MASTER <name> at start, on every (re)connect and every poll interval,
 *   keeping the answer with the highest config-epoch, so a sentinel that has not caught up with a
 *   failover cannot switch traffic back to the old master;
 * - followed on +switch-master at once, from whichever sentinel announces it first.
 * The current master is PING-checked for /readyz; a session's -READONLY or lost connection
 * triggers an immediate re-ask.
 */
// ioredis is loaded only when a Sentinel listener starts: it costs ~22 MB of memory otherwise unused.
import type { Redis } from 'ioredis';
import { formatUpstream, type HostPort, type UpstreamAddress } from '../config/address.js';
import type { SentinelSpec } from '../config/listenerSpec.js';
import type { Logger } from '../log/logger.js';
import type { ListenerStats } from '../metrics/listenerStats.js';
import { HealthCheck, type HealthOptions } from './healthCheck.js';
import { statusOf, type MasterChange, type UpstreamSelector, type UpstreamStatus } from './upstreamSelector.js';

interface SentinelLink {
  readonly addr: HostPort;
  readonly cmd: Redis;
  readonly sub: Redis;
}

export class SentinelSelector implements UpstreamSelector {
  private master: UpstreamAddress | null = null;
  private epoch = -1;
  private links: SentinelLink[] = [];
  private check: HealthCheck | null = null;
  private poll: NodeJS.Timeout | null = null;
  private lastError = 'no sentinel has answered yet';
  private stopped = false;

  constructor(
    private readonly spec: SentinelSpec,
    private readonly health: Omit<HealthOptions, 'probe'>,
    private readonly pollMs: number,
    private readonly stats: ListenerStats,
    private readonly log: Logger,
    private readonly onChange: MasterChange,
    /** Masters speak TLS (AMBASSADOR_TLS_MASTERS): Sentinel only gives an address. */
    private readonly tlsMasters = false,
  ) {}

  current(): UpstreamAddress | null {
    return this.master;
  }

  start(): void {
    import('ioredis').then(
      ({ Redis: RedisClient }) => {
        if (this.stopped) return;
        this.links = this.spec.sentinels.map((addr) => this.connect(addr, RedisClient));
        this.poll = setInterval(() => this.askAll(), this.pollMs);
      },
      (err: Error) => this.log.error('cannot load ioredis for Sentinel', { listener: this.stats.listener, error: err.message }),
    );
  }

  stop(): void {
    this.stopped = true;
    if (this.poll) clearInterval(this.poll);
    this.check?.stop();
    for (const l of this.links) {
      l.cmd.disconnect();
      l.sub.disconnect();
    }
  }

  suspect(): void {
    this.askAll();
    this.check?.probeNow();
  }

  ready(): boolean {
    return this.check?.up ?? false;
  }

  status(): UpstreamStatus[] {
    if (this.check === null) return [{ upstream: `sentinel:${this.spec.masterName}`, up: false, error: this.lastError }];
    return [statusOf(this.check)];
  }

  healthOf(url: string): HealthCheck | null {
    return this.check !== null && this.check.upstream.url === url ? this.check : null;
  }

  private connect(addr: HostPort, RedisClient: typeof Redis): SentinelLink {
    const options = {
      host: addr.host,
      port: addr.port,
      protocol: 2 as const,
      connectTimeout: 1000,
      maxRetriesPerRequest: 1,
      enableOfflineQueue: false,
      retryStrategy: (times: number) => Math.min(times * 200, 2000),
    };
    const cmd = new RedisClient(options);
    const sub = new RedisClient(options);
    const where = `${addr.host}:${addr.port}`;
    cmd.on('ready', () => {
      this.log.info('sentinel connected', { listener: this.stats.listener, sentinel: where });
      void this.ask(cmd, where);
    });
    cmd.on('error', (err: Error) => this.log.debug('sentinel error', { listener: this.stats.listener, sentinel: where, error: err.message }));
    sub.on('error', () => {}); // reported once through `cmd`
    sub.on('ready', () => {
      sub.subscribe('+switch-master').catch(() => {});
    });
    sub.on('message', (_channel: string, message: string) => {
      // "<name> <old-ip> <old-port> <new-ip> <new-port>"
      const [name, , , ip, port] = message.split(' ');
      if (name !== this.spec.masterName || ip === undefined || port === undefined) return;
      // A switch always raises the config epoch; sentinels still on the old epoch are outvoted.
      this.epoch += 1;
      this.setMaster(ip, Number(port), `+switch-master from sentinel ${where}`);
      this.askAll();
    });
    return { addr, cmd, sub };
  }

  private askAll(): void {
    for (const l of this.links) {
      if (l.cmd.status === 'ready') void this.ask(l.cmd, `${l.addr.host}:${l.addr.port}`);
    }
  }

  private async ask(cmd: Redis, where: string): Promise<void> {
    try {
      const reply = (await cmd.call('SENTINEL', 'MASTER', this.spec.masterName)) as string[];
      const fields = new Map<string, string>();
      for (let i = 0; i + 1 < reply.length; i += 2) fields.set(reply[i]!, reply[i + 1]!);
      const ip = fields.get('ip');
      const port = Number(fields.get('port'));
      const epoch = Number(fields.get('config-epoch') ?? 0);
      if (ip === undefined || !Number.isInteger(port)) return;
      if (epoch < this.epoch) return;
      this.epoch = epoch;
      this.setMaster(ip, port, `sentinel ${where} (config-epoch ${epoch})`);
    } catch (err) {
      this.lastError = `sentinel ${where}: ${(err as Error).message}`;
      this.log.debug('sentinel query failed', { listener: this.stats.listener, sentinel: where, error: (err as Error).message });
    }
  }

  private setMaster(host: string, port: number, reason: string): void {
    const url = formatUpstream(host, port, this.tlsMasters);
    if (this.master?.url === url) return;
    const previous = this.master;
    const next: UpstreamAddress = { host, port, tls: this.tlsMasters, url };
    this.master = next;
    if (previous !== null) {
      this.stats.failovers++;
      this.stats.upstreamUp.delete(previous.url);
    }
    this.log.warn(previous === null ? 'master found' : 'failover', {
      listener: this.stats.listener,
      master_name: this.spec.masterName,
      old_master: previous?.url ?? null,
      new_master: url,
      reason,
    });
    this.check?.stop();
    this.stats.upstreamUp.set(url, 0);
    if (!this.stats.connectFailures.has(url)) this.stats.connectFailures.set(url, 0);
    this.check = new HealthCheck(next, { ...this.health, probe: 'ping' }, (up, why) => {
      this.stats.upstreamUp.set(url, up ? 1 : 0);
      const fields = { listener: this.stats.listener, upstream: url, reason: why };
      if (up) this.log.info('upstream up', fields);
      else this.log.warn('upstream down', fields);
    });
    this.check.start();
    this.onChange(previous, next, reason);
  }
}
