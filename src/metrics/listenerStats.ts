/**
 * The hot-path side of the metrics: plain numbers and typed arrays a session bumps per command.
 * prom-client's labelled observe() costs ~0.3 µs (a label hash and a map look-up) per call; here
 * a command costs two array increments, and MetricsRegistry turns the arrays into prom-client
 * metric objects only when /metrics is scraped.
 */
import { PIN_REASONS, type PinReason } from '../resp/commandTraits.js';
import { CERT_ROLES, DISCONNECT_CAUSES, DURATION_BUCKETS, ERROR_CODES, PUSH_KINDS, REDIRECT_KINDS, REJECT_REASONS, REPLY_SIZE_BUCKETS, TLS_FAILURE_REASONS, type CertRole, type TlsFailureReason } from './metricTable.js';

/** Bucket bounds in milliseconds, the unit of performance.now(). */
const BOUNDS_MS = DURATION_BUCKETS.map((s) => s * 1000);
export const BUCKET_SLOTS = BOUNDS_MS.length + 1; // the last slot is +Inf

export class Histograms {
  /** Per command, `slots` non-cumulative counts (the last slot is +Inf). */
  readonly buckets: Float64Array;
  /** Per command, sum of observations in the published unit (seconds, bytes). */
  readonly sums: Float64Array;
  readonly slots: number;

  constructor(
    commands: number,
    /** Upper bounds in the unit observe() is given. */
    private readonly bounds: readonly number[] = BOUNDS_MS,
    /** observe()'s unit → the published unit (ms → s by default). */
    private readonly scale = 1 / 1000,
  ) {
    this.slots = bounds.length + 1;
    this.buckets = new Float64Array(commands * this.slots);
    this.sums = new Float64Array(commands);
  }

  observe(cmd: number, value: number): void {
    const bounds = this.bounds;
    let b = 0;
    while (b < bounds.length && value > bounds[b]!) b++;
    this.buckets[cmd * this.slots + b]!++;
    this.sums[cmd]! += value * this.scale;
  }
}

export class ListenerStats {
  readonly commands: Float64Array;
  readonly durations: Histograms;
  readonly blockingDurations: Histograms;
  readonly errors: Float64Array;
  /** Reply sizes in bytes, per command. */
  readonly replySizes: Histograms;
  /** Per command: replies at or over AMBASSADOR_SLOWLOG_MS. */
  readonly slowCommands: Float64Array;
  /** Per command, one slot per REJECT_REASONS entry. */
  readonly rejected: Float64Array;
  readonly push = new Float64Array(PUSH_KINDS.length);
  clients = 0;
  clientsTotal = 0;
  /** Connections refused at AMBASSADOR_MAX_CLIENTS. */
  clientsRefused = 0;
  /** AMBASSADOR_MAX_CLIENTS as the listener applies it (0 until a listener is made). */
  maxClients = 0;
  bytesIn = 0;
  bytesOut = 0;
  clientProtocolErrors = 0;
  upstreamProtocolErrors = 0;
  reconnects = 0;
  failovers = 0;
  /** Per DISCONNECT_CAUSES entry: upstream connections Redis closed on purpose (the client was closed too), and ones lost. */
  readonly disconnects = new Float64Array(DISCONNECT_CAUSES.length);
  /** Reconnects whose replayed state (or the ambassador's own AUTH) the upstream refused. */
  replayFailures = 0;
  /** AMBASSADOR_UPSTREAM_MODE=shared: shared upstream connections up now. */
  sharedConnections = 0;
  /** Clients moved to a connection of their own, one slot per PIN_REASONS entry. */
  readonly pins = new Float64Array(PIN_REASONS.length);
  /** Redis Cluster: -MOVED and -ASK replies rewritten, one slot per REDIRECT_KINDS entry. */
  readonly redirects = new Float64Array(REDIRECT_KINDS.length);
  /** upstream url → 0/1. */
  readonly upstreamUp = new Map<string, number>();
  /** upstream url → failed connect attempts. */
  readonly connectFailures = new Map<string, number>();
  /** Connections a TLS listener refused, one slot per TLS_FAILURE_REASONS entry. */
  readonly tlsFailures = new Float64Array(TLS_FAILURE_REASONS.length);
  /** When each certificate role's certificate in force expires (ms since the epoch; Infinity: none). */
  readonly certificateExpires = new Float64Array(CERT_ROLES.length).fill(Infinity);

  constructor(
    readonly listener: string,
    readonly commandCount: number,
  ) {
    this.commands = new Float64Array(commandCount);
    this.durations = new Histograms(commandCount);
    this.blockingDurations = new Histograms(commandCount);
    this.errors = new Float64Array(commandCount * ERROR_CODES.length);
    this.replySizes = new Histograms(commandCount, REPLY_SIZE_BUCKETS, 1);
    this.slowCommands = new Float64Array(commandCount);
    this.rejected = new Float64Array(commandCount * REJECT_REASONS.length);
  }

  disconnected(cause: (typeof DISCONNECT_CAUSES)[number]): void {
    this.disconnects[DISCONNECT_CAUSES.indexOf(cause)]!++;
  }

  replayFailed(): void {
    this.replayFailures++;
  }

  redirected(kind: (typeof REDIRECT_KINDS)[number]): void {
    this.redirects[REDIRECT_KINDS.indexOf(kind)]!++;
  }

  pinned(reason: PinReason): void {
    this.pins[PIN_REASONS.indexOf(reason)]!++;
  }

  reject(cmd: number, reason: string): void {
    this.rejected[cmd * REJECT_REASONS.length + REJECT_REASONS.indexOf(reason)]!++;
  }

  error(cmd: number, code: number): void {
    this.errors[cmd * ERROR_CODES.length + code]!++;
  }

  tlsFailed(reason: TlsFailureReason): void {
    this.tlsFailures[TLS_FAILURE_REASONS.indexOf(reason)]!++;
  }

  /** The certificate of `role` in force now expires at `expires` (ms since the epoch), or there is none (null). */
  certificateExpiry(role: CertRole, expires: number | null): void {
    this.certificateExpires[CERT_ROLES.indexOf(role)] = expires ?? Infinity;
  }

  connectFailed(upstream: string): void {
    this.connectFailures.set(upstream, (this.connectFailures.get(upstream) ?? 0) + 1);
  }
}
