/**
 * Keeps one connection to an upstream and sends it PING every interval. The upstream is "up"
 * while PINGs are answered (+PONG, or -NOAUTH/-WRONGPASS, which also prove a live Redis) within
 * the timeout. Feeds /readyz and the upstream_up gauge; failover builds on its transitions.
 */
import net from 'node:net';
import type { UpstreamAddress } from '../config/address.js';
import { CommandIndex } from '../resp/commandIndex.js';
import { RESP_TYPE, RespScanner, type FrameSink } from '../resp/scanner.js';

const PING = Buffer.from('*1\r\n$4\r\nPING\r\n');

export interface HealthOptions {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive failed checks before the upstream counts as down. */
  readonly failuresBeforeDown: number;
}

export type HealthListener = (up: boolean, reason: string) => void;

export class HealthCheck {
  up = false;
  /** Why the last check failed, for /readyz and logs. */
  lastError = 'not checked yet';
  private socket: net.Socket | null = null;
  private scanner: RespScanner | null = null;
  private timer: NodeJS.Timeout | null = null;
  private deadline: NodeJS.Timeout | null = null;
  private failures = 0;
  private stopped = false;
  private waiting = false;
  private reportedDown = false;

  constructor(
    readonly upstream: UpstreamAddress,
    private readonly opts: HealthOptions,
    private readonly onChange: HealthListener,
  ) {}

  start(): void {
    this.check();
  }

  stop(): void {
    this.stopped = true;
    if (this.timer) clearTimeout(this.timer);
    if (this.deadline) clearTimeout(this.deadline);
    this.socket?.destroy();
    this.socket = null;
  }

  private check(): void {
    if (this.stopped) return;
    this.waiting = true;
    this.deadline = setTimeout(() => this.failed(`no answer to PING within ${this.opts.timeoutMs} ms`), this.opts.timeoutMs);
    const s = this.socket ?? this.open();
    if (!s.connecting) s.write(PING);
  }

  private open(): net.Socket {
    const s = net.connect({ host: this.upstream.host, port: this.upstream.port, noDelay: true });
    this.socket = s;
    const sink: FrameSink = {
      onFrame: (sc) => {
        const ok =
          (sc.frameType === RESP_TYPE.SIMPLE && CommandIndex.tokenIs(sc, 0, 'pong')) ||
          (sc.frameType === RESP_TYPE.ERROR && (startsWith(sc, 'noauth') || startsWith(sc, 'wrongpass')));
        if (ok) this.passed();
        else this.failed('unexpected reply to PING');
      },
      onProtocolError: (message) => this.failed(`invalid reply to PING: ${message}`),
    };
    this.scanner = new RespScanner('reply', sink);
    s.on('connect', () => {
      if (this.waiting) s.write(PING);
    });
    s.on('data', (chunk: Buffer) => this.scanner?.feed(chunk));
    s.on('error', (err) => this.failed((err as NodeJS.ErrnoException).code ?? err.message));
    s.on('close', () => {
      if (this.socket === s) {
        this.socket = null;
        if (this.waiting) this.failed('connection closed');
      }
    });
    return s;
  }

  private passed(): void {
    if (!this.waiting) return;
    this.settle();
    this.failures = 0;
    this.reportedDown = false;
    if (!this.up) {
      this.up = true;
      this.lastError = '';
      this.onChange(true, 'PING answered');
    }
  }

  private failed(reason: string): void {
    if (!this.waiting) return;
    this.settle();
    this.socket?.destroy();
    this.socket = null;
    this.failures++;
    this.lastError = reason;
    if (this.failures >= this.opts.failuresBeforeDown && !this.reportedDown) {
      this.up = false;
      this.reportedDown = true;
      this.onChange(false, reason);
    }
  }

  private settle(): void {
    this.waiting = false;
    if (this.deadline) clearTimeout(this.deadline);
    this.deadline = null;
    if (!this.stopped) this.timer = setTimeout(() => this.check(), this.opts.intervalMs);
  }
}

function startsWith(s: RespScanner, word: string): boolean {
  for (let i = 0; i < word.length; i++) if (s.tokenBytes[i] !== word.charCodeAt(i)) return false;
  return true;
}
