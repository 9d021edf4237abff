/**
 * Keeps one connection to an upstream and probes it every interval: PING, or ROLE where the
 * ambassador must find the master among candidates. The upstream is "up" while probes are
 * answered (+PONG / a ROLE array, or -NOAUTH/-WRONGPASS, which also prove a live Redis) within
 * the timeout. Feeds /readyz, the upstream_up gauge and the failover selectors.
 */
import type net from 'node:net';
import type { UpstreamAddress } from '../config/address.js';
import { openUpstream, type TlsSettings } from './upstreamSocket.js';
import { CommandIndex } from '../resp/commandIndex.js';
import { RESP_TYPE, RespScanner, type FrameSink } from '../resp/scanner.js';

const PING = Buffer.from('*1\r\n$4\r\nPING\r\n');
const ROLE = Buffer.from('*1\r\n$4\r\nROLE\r\n');

export type Role = 'master' | 'replica' | 'sentinel' | 'unknown';

export interface HealthOptions {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive failed checks before the upstream counts as down. */
  readonly failuresBeforeDown: number;
  readonly probe: 'ping' | 'role';
  /** The ambassador's own AUTH, written once per probe connection before the first probe. */
  readonly preamble: Buffer | null;
  readonly tls: TlsSettings | null;
}

/** Called when up/down changes, and in role mode also when the role changes. */
export type HealthListener = (up: boolean, reason: string) => void;

export class HealthCheck {
  up = false;
  /** Why the last check failed, for /readyz and logs. */
  lastError = 'not checked yet';
  /** Last role ROLE reported (role probes only). */
  role: Role = 'unknown';
  private socket: net.Socket | null = null;
  private scanner: RespScanner | null = null;
  private timer: NodeJS.Timeout | null = null;
  private deadline: NodeJS.Timeout | null = null;
  private failures = 0;
  private stopped = false;
  private waiting = false;
  /** Replies still due for the preamble on the current connection (they are not probe answers). */
  private preambleReplies = 0;
  /** The probe connection is open (and through its TLS handshake): probes can be written. */
  private ready = false;
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
    if (this.ready) s.write(this.probeBytes);
  }

  private open(): net.Socket {
    this.ready = false;
    const s = openUpstream(this.upstream, this.opts.tls, 0, () => {
      this.ready = true;
      if (this.opts.preamble !== null) {
        this.preambleReplies = 1;
        s.write(this.opts.preamble);
      }
      if (this.waiting) s.write(this.probeBytes);
    });
    this.socket = s;
    const sink: FrameSink = {
      onFrame: (sc) => {
        if (this.preambleReplies > 0) {
          this.preambleReplies--;
          if (sc.frameType === RESP_TYPE.ERROR) this.failed(`the upstream refused the ambassador's AUTH (${errorWord(sc)})`);
          return;
        }
        const authNeeded = sc.frameType === RESP_TYPE.ERROR && (startsWith(sc, 'noauth') || startsWith(sc, 'wrongpass'));
        if (this.opts.probe === 'ping') {
          if (authNeeded || (sc.frameType === RESP_TYPE.SIMPLE && CommandIndex.tokenIs(sc, 0, 'pong'))) this.passed('unknown');
          else this.failed('unexpected reply to PING');
          return;
        }
        if (authNeeded) this.passed('unknown');
        else if (sc.frameType === RESP_TYPE.ARRAY || sc.frameType === RESP_TYPE.PUSH) this.passed(roleOf(sc));
        else this.failed(sc.frameType === RESP_TYPE.ERROR ? `ROLE refused (${errorWord(sc)})` : 'unexpected reply to ROLE');
      },
      onProtocolError: (message) => this.failed(`invalid reply to ${this.opts.probe.toUpperCase()}: ${message}`),
    };
    this.scanner = new RespScanner('reply', sink);
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

  /** Probe at once instead of waiting for the interval (a client saw -READONLY, a connection dropped, …). */
  probeNow(): void {
    if (this.stopped || this.waiting) return;
    if (this.timer) clearTimeout(this.timer);
    this.check();
  }

  private get probeBytes(): Buffer {
    return this.opts.probe === 'ping' ? PING : ROLE;
  }

  private passed(role: Role): void {
    if (!this.waiting) return;
    this.settle();
    this.failures = 0;
    this.reportedDown = false;
    const roleChanged = role !== this.role;
    this.role = role;
    if (!this.up || roleChanged) {
      this.up = true;
      this.lastError = '';
      this.onChange(true, this.opts.probe === 'ping' ? 'PING answered' : `ROLE is ${role}`);
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

function roleOf(s: RespScanner): Role {
  if (CommandIndex.tokenIs(s, 0, 'master')) return 'master';
  if (CommandIndex.tokenIs(s, 0, 'slave')) return 'replica';
  if (CommandIndex.tokenIs(s, 0, 'sentinel')) return 'sentinel';
  return 'unknown';
}

function errorWord(s: RespScanner): string {
  let w = '';
  for (let i = 0; i < Math.min(s.tokenLength[0]!, 32); i++) {
    const b = s.tokenBytes[i]!;
    if (b === 32) break;
    w += String.fromCharCode(b & 0xdf);
  }
  return w;
}
