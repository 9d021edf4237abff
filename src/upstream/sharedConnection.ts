/**
 * One upstream connection shared by many sessions (AMBASSADOR_UPSTREAM_MODE=shared). Whole request
 * frames of its sessions are written pipelined: what is ready in one event-loop turn goes in one
 * write, taken round-robin a frame per session, so a client pipelining thousands of commands
 * cannot starve the others. Replies come back in order; each goes, as its bytes arrive, to the
 * session whose command it answers. The connection never stops reading for one slow client:
 * that client's socket holds its replies, and its session decides what to do about it.
 */
import type net from 'node:net';
import { performance } from 'node:perf_hooks';
import type { UpstreamAddress } from '../config/address.js';
import type { Limits } from '../config/settings.js';
import type { Logger } from '../log/logger.js';
import { errorWord } from '../resp/frameView.js';
import { RESP_TYPE, RespScanner } from '../resp/scanner.js';
import type { UpstreamUnreachable } from './connector.js';
import type { UpstreamDialer } from './dialer.js';
import { OwnerRing } from './ownerRing.js';
import { ConnectAttempt } from './connectAttempt.js';
import { abandonUpstream } from './upstreamSocket.js';

/** Bytes written in one turn at most; the rest waits for the next, after replies had a chance. */
const FLUSH_BUDGET = 256 * 1024;

/** A session's place on a shared connection (SharedLink). */
export interface SharedOwner {
  readonly closed: boolean;
  /** The next frame to write (one or more whole commands), removed from the owner's queue; undefined when none is left. */
  takeFrame(): Buffer | undefined;
  /** Whether frames still wait to be written. */
  readonly hasFrames: boolean;
  /** Set while the owner is in the connection's ready list. */
  queued: boolean;
  /** The frame it took was written: how many commands it holds (a reply is owed for each). */
  onWritten(): number;
  onReplyBytes(bytes: Buffer): void;
  onReplyEnd(frame: RespScanner, now: number): void;
  /** Commands written on the connection will not be answered: it is gone. */
  onConnectionLost(detail: string): void;
  /** Frames that waited for a connection were not written: none could be made in time. */
  onUnreachable(err: UpstreamUnreachable): void;
  onWritable(writable: boolean): void;
}

export interface SharedConnectionSettings {
  readonly limits: Limits;
  /** The ambassador's own AUTH, answered before any client frame is written; or null. Asked at every connect, so a rotated password is used at once. */
  readonly preamble: () => Buffer | null;
  /** How long frames wait for a connection before their commands get an error. */
  readonly unavailableWaitMs: number;
}

type State = 'connecting' | 'authenticating' | 'live' | 'waiting' | 'closed';

export class SharedConnection {
  private state: State = 'connecting';
  private socket: net.Socket | null = null;
  private addr: UpstreamAddress | null = null;
  /** A dial in progress, or the pause before the next after a window without any connection. */
  private readonly attempt = new ConnectAttempt();
  private ready: SharedOwner[] = [];
  private flushScheduled = false;
  private blocked = false;
  private scanner: RespScanner;
  // The chunk being scanned, where the reply in it begins, and when it arrived.
  private chunk: Buffer | null = null;
  private from = 0;
  private now = 0;
  /** One entry per command written, oldest first: whose reply comes next. */
  private readonly owners = new OwnerRing<SharedOwner>();
  private readonly members = new Set<SharedOwner>();

  constructor(
    private readonly dialer: UpstreamDialer,
    private readonly settings: SharedConnectionSettings,
    private readonly log: Logger,
    private readonly listener: string,
    /** Called when the connection comes up or goes down (for the gauge). */
    private readonly onStateChange: () => void,
  ) {
    this.scanner = this.newScanner();
  }

  get live(): boolean {
    return this.state === 'live';
  }

  get url(): string | null {
    return this.addr?.url ?? null;
  }

  start(): void {
    this.connect();
  }

  join(owner: SharedOwner): void {
    this.members.add(owner);
    if (this.blocked) owner.onWritable(false);
  }

  leave(owner: SharedOwner): void {
    this.members.delete(owner);
  }

  /** The owner has frames to write. */
  enqueue(owner: SharedOwner): void {
    if (!owner.queued) {
      owner.queued = true;
      this.ready.push(owner);
    }
    this.scheduleFlush();
  }

  /** The master moved: a connection to the old one is given up for one to the new. */
  retarget(reason: string): void {
    if (this.state === 'connecting' || this.state === 'waiting') {
      if (this.dialer.current() === null) return;
      this.attempt.stop();
      this.connect();
      return;
    }
    if (this.state === 'closed' || this.dialer.current()?.url === this.addr?.url) return;
    this.lose(`master moved (${reason})`);
  }

  close(): void {
    this.state = 'closed';
    this.attempt.stop();
    this.detach();
    this.onStateChange();
  }

  private connect(): void {
    this.state = 'connecting';
    this.attempt.dial(this.dialer, this.settings.unavailableWaitMs, (err, socket, addr) => {
      if (err !== null) this.onUnreachable(err);
      else this.onConnected(socket!, addr!);
    });
  }

  private onConnected(up: net.Socket, addr: UpstreamAddress): void {
    if (this.state === 'closed') {
      up.destroy();
      return;
    }
    this.socket = up;
    this.addr = addr;
    this.scanner = this.newScanner();
    up.on('data', (chunk: Buffer) => this.onData(chunk));
    up.on('drain', () => this.setBlocked(false));
    up.on('end', () => this.lose('closed by upstream'));
    up.on('error', (err) => this.lose((err as NodeJS.ErrnoException).code ?? err.message));
    up.on('close', () => this.lose('closed by upstream'));
    const preamble = this.settings.preamble();
    if (preamble === null) return this.goLive();
    this.state = 'authenticating';
    up.write(preamble);
  }

  private goLive(): void {
    this.state = 'live';
    this.log.info('shared upstream connection up', { listener: this.listener, upstream: this.addr?.url });
    this.onStateChange();
    this.scheduleFlush();
  }

  private onUnreachable(err: UpstreamUnreachable): void {
    if (this.state === 'closed') return;
    this.state = 'waiting';
    this.log.warn('shared upstream connection unreachable', { listener: this.listener, upstream: err.upstream, error: err.cause.message });
    // What waited for this connection is answered now; the search goes on.
    const waiting = this.ready;
    this.ready = [];
    for (const o of waiting) {
      o.queued = false;
      if (!o.closed) o.onUnreachable(err);
    }
    this.attempt.retryLater(() => {
      if (this.state === 'waiting') this.connect();
    });
  }

  private scheduleFlush(): void {
    if (this.flushScheduled || this.state !== 'live' || this.blocked || this.ready.length === 0) return;
    this.flushScheduled = true;
    setImmediate(() => this.flush());
  }

  /** One frame from each ready owner per round, rounds until all is written or the budget is spent. */
  private flush(): void {
    this.flushScheduled = false;
    if (this.state !== 'live' || this.blocked) return;
    const s = this.socket!;
    let budget = FLUSH_BUDGET;
    let open = true;
    s.cork();
    while (this.ready.length > 0 && budget > 0) {
      const round = this.ready;
      this.ready = [];
      for (const o of round) {
        const frame = o.closed ? undefined : o.takeFrame();
        if (frame !== undefined) {
          open = s.write(frame) && open;
          for (let n = o.onWritten(); n > 0; n--) this.owners.push(o);
          budget -= frame.length;
        }
        if (!o.closed && o.hasFrames) this.ready.push(o);
        else o.queued = false;
      }
    }
    s.uncork();
    if (!open) this.setBlocked(true);
    else this.scheduleFlush();
  }

  private onData(chunk: Buffer): void {
    this.now = performance.now();
    this.chunk = chunk;
    this.from = 0;
    this.scanner.feed(chunk);
    this.chunk = null;
    // The rest begins the next reply: its owner gets it as it comes.
    if (!this.scanner.failed && this.from < chunk.length) this.deliver(chunk.subarray(this.from));
  }

  private onFrame(s: RespScanner, end: number): void {
    const chunk = this.chunk!;
    if (this.state === 'authenticating') {
      this.from = end;
      if (s.frameType !== RESP_TYPE.ERROR) return this.goLive();
      this.log.error("the upstream refused the ambassador's own AUTH on a shared connection", { listener: this.listener, upstream: this.addr?.url, error: errorWord(s) });
      this.lose(`the upstream refused the ambassador's own AUTH (${errorWord(s)})`);
      return;
    }
    this.deliver(chunk.subarray(this.from, end));
    this.from = end;
    const owner = this.owners.shift();
    if (owner !== undefined && !owner.closed) owner.onReplyEnd(s, this.now);
  }

  private deliver(bytes: Buffer): void {
    if (bytes.length === 0) return;
    const owner = this.owners.first;
    if (owner !== undefined && !owner.closed) owner.onReplyBytes(bytes);
  }

  /** The connection is gone: what was in flight on it is lost; a new one is made at once. */
  private lose(detail: string): void {
    if (this.socket === null || this.state === 'closed') return;
    const wasLive = this.state === 'live';
    // Not live from here on: the gauge and the owners told below must see it down.
    this.state = 'connecting';
    this.detach();
    this.log.warn('shared upstream connection lost', { listener: this.listener, upstream: this.addr?.url, in_flight: this.owners.length, error: detail });
    for (const o of this.owners.drain()) if (!o.closed) o.onConnectionLost(detail);
    this.setBlocked(false);
    if (wasLive) this.onStateChange();
    this.dialer.suspect(`a shared upstream connection was lost: ${detail}`);
    this.connect();
  }

  private detach(): void {
    const up = this.socket;
    this.socket = null;
    if (up === null) return;
    abandonUpstream(up);
  }

  private setBlocked(blocked: boolean): void {
    if (blocked === this.blocked) return;
    this.blocked = blocked;
    for (const m of this.members) m.onWritable(!blocked);
    if (!blocked) this.scheduleFlush();
  }

  private newScanner(): RespScanner {
    return new RespScanner(
      'reply',
      {
        onFrame: (s, end) => this.onFrame(s, end),
        onProtocolError: (message) => {
          this.log.error('upstream protocol error on a shared connection', { listener: this.listener, upstream: this.addr?.url, error: message });
          this.lose(`upstream protocol error: ${message}`);
        },
      },
      { limits: this.settings.limits, lean: true },
    );
  }
}
