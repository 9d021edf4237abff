/**
 * Keeps one connection to an upstream and probes it every interval: PING, or ROLE where the
 * ambassador must find the master among candidates. The upstream is "up" while probes are
 * answered (+PONG / a ROLE array, or -NOAUTH/-WRONGPASS, which also prove a live Redis) within
 * the timeout. Feeds /readyz, the upstream_up gauge and the failover selectors.
 *
 * It also knows which server process it is talking to (run_id and role from INFO, asked once per
 * probe connection), so that when Redis closes a client's connection the session can tell a
 * decision (CLIENT KILL, `timeout`, an output-buffer limit: the same process still answers) from
 * a failure (a restart, a crash, a demotion): see verify().
 */
import type net from 'node:net';
import type { UpstreamAddress } from '../config/address.js';
import { encodeCommand } from '../resp/commandCodec.js';
import { FrameCollector, bulkText } from '../resp/frameCollector.js';
import { errorWord, tokenIs, tokenStartsWith } from '../resp/frameView.js';
import { RESP_TYPE, type RespScanner } from '../resp/scanner.js';
import { queryUpstream } from './upstreamQuery.js';
import { abandonUpstream, openUpstream } from './upstreamSocket.js';
import type { TlsSettings } from '../config/settings.js';

const PING = encodeCommand(['PING']);
const ROLE = encodeCommand(['ROLE']);
const INFO = encodeCommand(['INFO', 'server', 'replication']);

export type Role = 'master' | 'replica' | 'sentinel' | 'unknown';

export interface HealthOptions {
  readonly intervalMs: number;
  readonly timeoutMs: number;
  /** Consecutive failed checks before the upstream counts as down. */
  readonly failuresBeforeDown: number;
  readonly probe: 'ping' | 'role';
  /**
   * The ambassador's own AUTH, written once per probe connection before the first probe; a
   * function where the password can be reloaded (asked for every new connection).
   */
  readonly preamble: Buffer | null | (() => Buffer | null);
  readonly tls: TlsSettings | null;
}

/** Which server process an upstream address reached, as far as the ambassador can tell. */
export interface UpstreamIdentity {
  /** INFO's run_id, or null where INFO is refused (no credentials for it, an ACL). */
  readonly runId: string | null;
  /** INFO's role ("master", "slave") beside the run_id. */
  readonly role: string | null;
  /** The probe connection that vouches for it: while it stays open, the process is the same. */
  readonly connection: number;
}

/** Called when up/down changes, and in role mode also when the role changes. */
export type HealthListener = (up: boolean, reason: string) => void;

interface Due {
  reply(s: RespScanner, bytes: Buffer): void;
  /** The connection closed before the reply came. */
  lost?(): void;
}

export class HealthCheck {
  up = false;
  /** Why the last check failed, for /readyz and logs. */
  lastError = 'not checked yet';
  /** Last role ROLE reported (role probes only). */
  role: Role = 'unknown';
  private socket: net.Socket | null = null;
  /** Replies due on the probe connection, oldest first. */
  private due: Due[] = [];
  /** The next check while idle, or the deadline of the one in flight. */
  private timer: NodeJS.Timeout | null = null;
  /** Checks failed in a row; the upstream is reported down when this reaches the threshold. */
  private failures = 0;
  private stopped = false;
  private waiting = false;
  /** The probe connection is open (and through its TLS handshake): probes can be written. */
  private ready = false;
  /** Counts probe connections; the current one's number names it in UpstreamIdentity. */
  private connections = 0;
  /** What the current probe connection vouches for. */
  private known: UpstreamIdentity | null = null;

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
    this.dropConnection();
  }

  /** Probe at once instead of waiting for the interval (a client saw -READONLY, a connection dropped, …). */
  probeNow(): void {
    if (this.stopped || this.waiting) return;
    if (this.timer) clearTimeout(this.timer);
    this.check();
  }

  /** The server process behind this address now, or null while no probe connection vouches for one. */
  identity(): UpstreamIdentity | null {
    return this.ready ? this.known : null;
  }

  /**
   * After a client's connection to this upstream closed: is the server that closed it the one
   * `before` named, still there in the same role? Asked anew (a reply written before the close
   * proves nothing): INFO on a fresh connection where the run_id is known, else a PING on the
   * probe connection that vouched for it. Anything unclear is answered `false` (a failure).
   */
  verify(before: UpstreamIdentity, done: (same: boolean, evidence: string) => void): void {
    let settled = false;
    const finish = (same: boolean, evidence: string): void => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      done(same, evidence);
    };
    const timer = setTimeout(() => finish(false, `no answer within ${this.opts.timeoutMs} ms`), this.opts.timeoutMs);
    if (before.runId !== null) {
      const preamble = this.preamble();
      const commands = preamble === null ? [INFO] : [preamble, INFO];
      queryUpstream(this.upstream, this.opts.tls, commands, this.opts.timeoutMs, (err, replies) => {
        if (err !== null) return finish(false, `the upstream does not answer (${err.message})`);
        const info = parseInfo(replies[replies.length - 1]!.bytes);
        if (info.runId !== before.runId) return finish(false, 'the upstream is another process now (its run_id changed)');
        if (info.role !== before.role) return finish(false, `the upstream's role changed from ${before.role} to ${info.role}`);
        finish(true, `the same process (run_id ${info.runId.slice(0, 8)}…) still answers as ${info.role}`);
      });
      return;
    }
    if (this.ready && before.connection === this.connections) {
      this.send(PING, {
        reply: () => finish(true, 'the probe connection opened before it still answers'),
        lost: () => finish(false, 'the probe connection was closed too'),
      });
      return;
    }
    finish(false, 'which server process it was is not known');
  }

  private check(): void {
    if (this.stopped) return;
    this.waiting = true;
    this.timer = setTimeout(() => this.failed(`no answer to ${this.opts.probe.toUpperCase()} within ${this.opts.timeoutMs} ms`), this.opts.timeoutMs);
    if (this.socket === null) this.open();
    else if (this.ready) this.sendProbe();
  }

  private open(): void {
    this.ready = false;
    const s = openUpstream(this.upstream, this.opts.tls, 0, () => {
      this.ready = true;
      this.connections++;
      this.known = { runId: null, role: null, connection: this.connections };
      const preamble = this.preamble();
      if (preamble !== null) {
        this.send(preamble, {
          reply: (sc) => {
            if (sc.frameType === RESP_TYPE.ERROR) this.failed(`the upstream refused the ambassador's AUTH (${errorWord(sc)})`);
          },
        });
      }
      this.send(INFO, {
        reply: (sc, bytes) => {
          if (sc.frameType === RESP_TYPE.ERROR) return; // refused (NOAUTH, NOPERM): the identity rests on this connection alone
          const info = parseInfo(bytes);
          if (info.runId !== '' && this.known !== null) this.known = { ...this.known, runId: info.runId, role: info.role };
        },
      });
      if (this.waiting) this.sendProbe();
    });
    this.socket = s;
    const collector = new FrameCollector(
      (sc, bytes) => this.due.shift()?.reply(sc, bytes),
      (message) => this.failed(`invalid reply to ${this.opts.probe.toUpperCase()}: ${message}`),
    );
    s.on('data', (chunk: Buffer) => collector.feed(chunk));
    s.on('error', (err) => this.failed((err as NodeJS.ErrnoException).code ?? err.message));
    s.on('close', () => {
      if (this.socket !== s) return;
      this.dropConnection();
      if (this.waiting) this.failed('connection closed');
    });
  }

  private preamble(): Buffer | null {
    const p = this.opts.preamble;
    return typeof p === 'function' ? p() : p;
  }

  private send(bytes: Buffer, due: Due): void {
    this.due.push(due);
    this.socket!.write(bytes);
  }

  private sendProbe(): void {
    this.send(this.opts.probe === 'ping' ? PING : ROLE, { reply: (sc) => this.onProbeReply(sc) });
  }

  private onProbeReply(sc: RespScanner): void {
    const authNeeded = sc.frameType === RESP_TYPE.ERROR && (tokenStartsWith(sc, 0, 'noauth') || tokenStartsWith(sc, 0, 'wrongpass'));
    if (this.opts.probe === 'ping') {
      if (authNeeded || (sc.frameType === RESP_TYPE.SIMPLE && tokenIs(sc, 0, 'pong'))) this.passed('unknown');
      else this.failed('unexpected reply to PING');
      return;
    }
    if (authNeeded) this.passed('unknown');
    else if (sc.frameType === RESP_TYPE.ARRAY || sc.frameType === RESP_TYPE.PUSH) this.passed(roleOf(sc));
    else this.failed(sc.frameType === RESP_TYPE.ERROR ? `ROLE refused (${errorWord(sc)})` : 'unexpected reply to ROLE');
  }

  /** Forgets the probe connection and what it vouched for; replies still due on it are lost. */
  private dropConnection(): void {
    const s = this.socket;
    this.socket = null;
    this.ready = false;
    this.known = null;
    const due = this.due;
    this.due = [];
    if (s !== null) {
      abandonUpstream(s);
    }
    for (const d of due) d.lost?.();
  }

  private passed(role: Role): void {
    if (!this.waiting) return;
    this.settle();
    this.failures = 0;
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
    this.dropConnection();
    this.failures++;
    this.lastError = reason;
    // Reported once per outage: failures only grows until a check passes.
    if (this.failures === this.opts.failuresBeforeDown) {
      this.up = false;
      this.onChange(false, reason);
    }
  }

  private settle(): void {
    this.waiting = false;
    if (this.timer) clearTimeout(this.timer);
    this.timer = this.stopped ? null : setTimeout(() => this.check(), this.opts.intervalMs);
  }
}

function roleOf(s: RespScanner): Role {
  if (tokenIs(s, 0, 'master')) return 'master';
  if (tokenIs(s, 0, 'slave')) return 'replica';
  if (tokenIs(s, 0, 'sentinel')) return 'sentinel';
  return 'unknown';
}

/** run_id and role from an INFO reply ("" where absent). */
function parseInfo(bytes: Buffer): { runId: string; role: string } {
  const text = bulkText(bytes) ?? '';
  return { runId: /^run_id:([0-9a-f]+)\r?$/m.exec(text)?.[1] ?? '', role: /^role:(\w+)\r?$/m.exec(text)?.[1] ?? '' };
}
