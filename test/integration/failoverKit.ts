/**
 * Shared pieces of the reconnect/failover tests (failover, candidates, reconnect): a raw RESP
 * client that timestamps every frame it receives, a sequential INCR writer that records every
 * reply, redis-sentinel clusters on loopback ports, and a process list that is killed whole in
 * afterAll (a SIGSTOPped process gets SIGCONT first). Only processes started here are ever killed,
 * by their own ChildProcess handle.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { performance } from 'node:perf_hooks';
import { Redis } from 'ioredis';
import { startAmbassador, type AmbassadorProcess } from '../support/ambassadorProcess.js';
import { freePort } from '../support/freePort.js';
import { startRedis, waitForPort, type RedisServer } from '../support/redisServer.js';

export const LOST = 'ERR upstream connection lost; command may or may not have run';

export const now = (): number => performance.now();
export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

export async function waitFor(
  cond: () => boolean | Promise<boolean>,
  what: string | (() => string),
  timeoutMs = 15_000,
  intervalMs = 10,
): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    if (await cond()) return;
    if (Date.now() > deadline) throw new Error(`timed out after ${timeoutMs} ms waiting for ${typeof what === 'function' ? what() : what}`);
    await sleep(intervalMs);
  }
}

// --- RESP ---------------------------------------------------------------------------------

/** A decoded frame: t is the RESP type byte ('+', '-', ':', '$', '*', '%', '>', '_', ...). */
export interface Resp {
  readonly t: string;
  readonly v: string | number | null | Resp[];
}

export function encode(args: (string | number | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Parses one frame at `off`; null when the buffer ends before the frame does. */
function parseAt(buf: Buffer, off: number): [Resp, number] | null {
  const eol = buf.indexOf('\r\n', off);
  if (eol < 0) return null;
  const t = String.fromCharCode(buf[off]!);
  const line = buf.toString('latin1', off + 1, eol);
  const next = eol + 2;
  switch (t) {
    case '+':
    case '-':
    case '(':
    case ',':
    case '#':
      return [{ t, v: line }, next];
    case '_':
      return [{ t, v: null }, next];
    case ':':
      return [{ t, v: Number(line) }, next];
    case '$':
    case '!':
    case '=': {
      const n = Number(line);
      if (n < 0) return [{ t, v: null }, next];
      if (buf.length < next + n + 2) return null;
      return [{ t, v: buf.toString('latin1', next, next + n) }, next + n + 2];
    }
    case '*':
    case '~':
    case '>':
    case '%':
    case '|': {
      const count = Number(line);
      if (count < 0) return [{ t, v: null }, next];
      const items: Resp[] = [];
      let at = next;
      const total = t === '%' || t === '|' ? count * 2 : count;
      for (let i = 0; i < total; i++) {
        const r = parseAt(buf, at);
        if (r === null) return null;
        items.push(r[0]);
        at = r[1];
      }
      if (t === '|') {
        // An attribute decorates the frame that follows it: return that frame.
        return parseAt(buf, at);
      }
      return [{ t, v: items }, at];
    }
    default:
      throw new Error(`not RESP: ${JSON.stringify(buf.toString('latin1', off, Math.min(buf.length, off + 60)))}`);
  }
}

/** A frame as plain data, for readable assertions: errors become { error }, maps { map: [...] }. */
export function plain(r: Resp): unknown {
  if (r.t === '-' || r.t === '!') return { error: r.v };
  if (Array.isArray(r.v)) {
    const items = r.v.map(plain);
    if (r.t === '%') return { map: items };
    if (r.t === '>') return { push: items };
    return items;
  }
  return r.v;
}

// --- raw client ---------------------------------------------------------------------------

export interface Frame {
  readonly at: number;
  readonly r: Resp;
}

/** A raw TCP client: every frame received is kept with its arrival time; replies match commands in order. */
export class Conn {
  readonly frames: Frame[] = [];
  closed = false;
  closedAt = 0;
  /** The peer ended the stream with a FIN (an orderly close, what Redis does on CLIENT KILL). */
  ended = false;
  /** The socket error, if the connection ended with one (ECONNRESET: the peer reset it). */
  error: NodeJS.ErrnoException | null = null;
  private buf: Buffer = Buffer.alloc(0);
  private nextReply = 0;
  private readonly wake = new Set<() => void>();

  private constructor(readonly socket: net.Socket) {
    socket.on('data', (d: Buffer) => {
      const t = now();
      this.buf = this.buf.length === 0 ? d : Buffer.concat([this.buf, d]);
      let off = 0;
      for (;;) {
        const r = parseAt(this.buf, off);
        if (r === null) break;
        this.frames.push({ at: t, r: r[0] });
        off = r[1];
      }
      this.buf = this.buf.subarray(off);
      this.notify();
    });
    socket.on('end', () => (this.ended = true));
    socket.on('error', (e: NodeJS.ErrnoException) => (this.error = e));
    socket.on('close', () => {
      this.closed = true;
      this.closedAt = now();
      this.notify();
    });
  }

  static open(port: number, host = '127.0.0.1'): Promise<Conn> {
    return new Promise((resolve, reject) => {
      const s = net.connect({ port, host, noDelay: true });
      s.once('error', reject);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(new Conn(s));
      });
    });
  }

  private notify(): void {
    for (const w of [...this.wake]) w();
  }

  /** Resolves when `pred` holds (checked on every frame and on close), rejects after the timeout. */
  until(pred: () => boolean, what: string, timeoutMs = 15_000): Promise<void> {
    if (pred()) return Promise.resolve();
    return new Promise((resolve, reject) => {
      const check = (): void => {
        if (pred()) {
          done();
          resolve();
        } else if (this.closed) {
          done();
          reject(new Error(`connection closed while waiting for ${what}; frames: ${this.describe()}`));
        }
      };
      const timer = setTimeout(() => {
        done();
        reject(new Error(`timed out after ${timeoutMs} ms waiting for ${what}; frames: ${this.describe()}`));
      }, timeoutMs);
      const done = (): void => {
        clearTimeout(timer);
        this.wake.delete(check);
      };
      this.wake.add(check);
    });
  }

  write(...args: (string | number | Buffer)[]): void {
    this.socket.write(encode(args));
  }

  writeRaw(bytes: Buffer | string): void {
    this.socket.write(bytes);
  }

  /** Sends a command and resolves with the frame that answers it (the n-th reply for the n-th command). */
  async call(args: (string | number | Buffer)[], timeoutMs = 15_000): Promise<Resp> {
    return (await this.callTimed(args, timeoutMs)).r;
  }

  async callTimed(args: (string | number | Buffer)[], timeoutMs = 15_000): Promise<Frame> {
    const index = this.nextReply++;
    this.write(...args);
    await this.until(() => this.frames.length > index, `reply to ${String(args[0])}`, timeoutMs);
    return this.frames[index]!;
  }

  /** Skips the reply counter ahead (after frames that answer nothing, e.g. pub/sub messages). */
  expectReplyAt(index: number): void {
    this.nextReply = index;
  }

  describe(): string {
    return JSON.stringify(this.frames.slice(-8).map((f) => plain(f.r))).slice(0, 800);
  }

  close(): void {
    this.socket.destroy();
  }
}

/** Runs one command on a fresh direct connection and closes it. */
export async function direct(port: number, ...commands: (string | number)[][]): Promise<Resp[]> {
  const c = await Conn.open(port);
  try {
    const out: Resp[] = [];
    for (const args of commands) out.push(await c.call(args, 10_000));
    return out;
  } finally {
    c.close();
  }
}

export async function infoField(port: number, section: string, field: string): Promise<string | undefined> {
  const [r] = await direct(port, ['INFO', section]);
  const m = new RegExp(`^${field}:(.*)\\r?$`, 'm').exec(String(r!.v));
  return m?.[1]?.trim();
}

// --- the writer ---------------------------------------------------------------------------

export interface Ack {
  readonly sentAt: number;
  readonly at: number;
  readonly value: number;
}
export interface Failure {
  readonly sentAt: number;
  readonly at: number;
  readonly error: string;
}

/**
 * One client doing INCR <key> through the ambassador, one command at a time (the next is sent a
 * few ms after the previous reply), recording every reply: integers are acknowledged INCRs.
 */
export class IncrWriter {
  sent = 0;
  readonly acks: Ack[] = [];
  readonly failures: Failure[] = [];
  private stopped = false;
  private loop: Promise<void> | null = null;
  crash: Error | null = null;

  constructor(
    readonly conn: Conn,
    private readonly key = 'counter',
    private readonly gapMs = 3,
  ) {}

  start(): void {
    this.loop = (async () => {
      while (!this.stopped) {
        const sentAt = now();
        this.sent++;
        let f: Frame;
        try {
          f = await this.conn.callTimed(['INCR', this.key], 30_000);
        } catch (err) {
          this.crash = err as Error;
          return;
        }
        if (f.r.t === ':') this.acks.push({ sentAt, at: f.at, value: f.r.v as number });
        else this.failures.push({ sentAt, at: f.at, error: String(f.r.t === '-' ? f.r.v : JSON.stringify(plain(f.r))) });
        if (this.gapMs > 0) await sleep(this.gapMs);
      }
    })();
  }

  /** Stops after the reply to the command in flight. */
  async stop(): Promise<void> {
    this.stopped = true;
    await this.loop;
    if (this.crash) throw this.crash;
  }

  ackAfter(t: number): Ack | undefined {
    return this.acks.find((a) => a.at > t);
  }
}

// --- processes ----------------------------------------------------------------------------

export function alive(p: ChildProcess): boolean {
  return p.exitCode === null && p.signalCode === null;
}

export function exited(p: ChildProcess, timeoutMs = 5000): Promise<void> {
  if (!alive(p)) return Promise.resolve();
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pid ${p.pid} did not exit within ${timeoutMs} ms`)), timeoutMs);
    p.once('exit', () => {
      clearTimeout(timer);
      resolve();
    });
  });
}

/** The scheduler state letter of /proc/<pid>/stat ('T' when stopped). */
export function procState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!;
}

export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** Everything a test file started: killed (SIGCONT, then SIGKILL) by killAll, even after a failure. */
export class Procs {
  private readonly children: ChildProcess[] = [];
  private readonly closers: (() => void)[] = [];
  private readonly dirs: string[] = [];

  /** Tracks something with a `process` (RedisServer, AmbassadorProcess) for killAll. */
  track<T extends { readonly process: ChildProcess }>(x: T): T {
    this.children.push(x.process);
    return x;
  }

  trackChild(p: ChildProcess): ChildProcess {
    this.children.push(p);
    return p;
  }

  onKill(close: () => void): void {
    this.closers.push(close);
  }

  tempDir(prefix: string): string {
    const d = mkdtempSync(path.join(os.tmpdir(), prefix));
    this.dirs.push(d);
    return d;
  }

  async killAll(): Promise<void> {
    for (const c of this.closers.splice(0)) {
      try {
        c();
      } catch {
        /* already closed */
      }
    }
    const children = this.children.splice(0);
    for (const p of children) {
      if (!alive(p)) continue;
      try {
        p.kill('SIGCONT');
      } catch {
        /* gone */
      }
      try {
        p.kill('SIGKILL');
      } catch {
        /* gone */
      }
    }
    await Promise.all(children.map((p) => exited(p, 5000).catch(() => {})));
    for (const d of this.dirs.splice(0)) rmSync(d, { recursive: true, force: true });
  }
}

export async function startTrackedRedis(procs: Procs, args: string[] = [], port?: number): Promise<RedisServer> {
  return procs.track(await startRedis(args, port));
}

/** Stops redis (SIGTERM, or SIGKILL) and starts a new one on the same port with `args` (which may differ). */
export async function restartTrackedRedis(procs: Procs, redis: RedisServer, args: string[] = [], signal: NodeJS.Signals = 'SIGKILL'): Promise<RedisServer> {
  await redis.stop(signal);
  return startTrackedRedis(procs, args, redis.port);
}

// --- Sentinel -----------------------------------------------------------------------------

export interface SentinelCluster {
  readonly master: RedisServer;
  readonly replica: RedisServer;
  readonly sentinelPorts: number[];
  /** The value for REDIS_PORT_<p>_SENTINEL. */
  readonly spec: string;
  /** performance.now() of the first +switch-master any of the 3 sentinels published (0 before). */
  switchAt(): number;
  switchMessage(): string;
  output(): string;
}

export const MASTER_NAME = 'mymaster';

/**
 * Master + replica + 3 sentinels on free loopback ports, each sentinel with its own config file
 * in a temp dir. Returns once every sentinel sees the replica and the 2 other sentinels, and the
 * replica's link is up; our own ioredis subscriber on each sentinel timestamps +switch-master.
 */
export async function startSentinelCluster(procs: Procs): Promise<SentinelCluster> {
  // Diskless sync without its default 5 s delay, so the replica is in sync at once.
  const master = await startTrackedRedis(procs, ['--repl-diskless-sync-delay', '0']);
  const replica = await startTrackedRedis(procs, ['--replicaof', '127.0.0.1', String(master.port)]);
  await waitFor(async () => (await infoField(replica.port, 'replication', 'master_link_status')) === 'up', 'replica in sync', 15_000, 50);

  const dir = procs.tempDir('ambassador-sentinel-');
  const ports: number[] = [];
  let output = '';
  for (let i = 0; i < 3; i++) {
    const port = await freePort();
    const conf = path.join(dir, `sentinel-${port}.conf`);
    writeFileSync(
      conf,
      [
        `port ${port}`,
        'bind 127.0.0.1',
        'daemonize no',
        `dir ${dir}`,
        `sentinel monitor ${MASTER_NAME} 127.0.0.1 ${master.port} 2`,
        `sentinel down-after-milliseconds ${MASTER_NAME} 1000`,
        `sentinel failover-timeout ${MASTER_NAME} 5000`,
        `sentinel parallel-syncs ${MASTER_NAME} 1`,
        '',
      ].join('\n'),
    );
    const child = spawn('redis-sentinel', [conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    procs.trackChild(child);
    child.stdout!.on('data', (d: Buffer) => (output += `[sentinel ${port}] ${d.toString()}`));
    child.stderr!.on('data', (d: Buffer) => (output += `[sentinel ${port}] ${d.toString()}`));
    await waitForPort(port, 5000);
    ports.push(port);
  }

  let switchAt = 0;
  let switchMessage = '';
  for (const port of ports) {
    const sub = new Redis({ host: '127.0.0.1', port, protocol: 2, lazyConnect: true, maxRetriesPerRequest: 0 });
    sub.on('error', () => {});
    procs.onKill(() => sub.disconnect());
    await sub.connect();
    sub.on('message', (_channel: string, message: string) => {
      const t = now();
      if (switchAt === 0 || t < switchAt) {
        switchAt = t;
        switchMessage = message;
      }
    });
    await sub.subscribe('+switch-master');
  }

  const masterFields = async (port: number): Promise<Map<string, string>> => {
    const [r] = await direct(port, ['SENTINEL', 'MASTER', MASTER_NAME]);
    const items = (r!.v as Resp[]).map((x) => String(x.v));
    const m = new Map<string, string>();
    for (let i = 0; i + 1 < items.length; i += 2) m.set(items[i]!, items[i + 1]!);
    return m;
  };
  await waitFor(
    async () => {
      for (const port of ports) {
        const m = await masterFields(port);
        if (m.get('num-other-sentinels') !== '2' || m.get('num-slaves') !== '1' || m.get('flags') !== 'master') return false;
        const [reps] = await direct(port, ['SENTINEL', 'REPLICAS', MASTER_NAME]);
        const rep = ((reps!.v as Resp[])[0]?.v as Resp[] | undefined)?.map((x) => String(x.v)) ?? [];
        const flags = rep[rep.indexOf('flags') + 1];
        const link = rep[rep.indexOf('master-link-status') + 1];
        if (flags !== 'slave' || link !== 'ok') return false;
      }
      return true;
    },
    () => `3 sentinels that know each other and the replica\n${output.slice(-3000)}`,
    30_000,
    100,
  );
  return {
    master,
    replica,
    sentinelPorts: ports,
    spec: `${MASTER_NAME}@${ports.map((p) => `127.0.0.1:${p}`).join(',')}`,
    switchAt: () => switchAt,
    switchMessage: () => switchMessage,
    output: () => output,
  };
}

/** Polls /readyz until the ambassador says every listener is ready. */
export async function waitReady(adminPort: number, timeoutMs = 15_000): Promise<void> {
  await waitFor(
    async () => {
      try {
        return (await fetch(`http://127.0.0.1:${adminPort}/readyz`)).status === 200;
      } catch {
        return false;
      }
    },
    'ambassador /readyz 200',
    timeoutMs,
    50,
  );
}

export async function healthz(adminPort: number): Promise<number> {
  try {
    return (await fetch(`http://127.0.0.1:${adminPort}/healthz`, { signal: AbortSignal.timeout(5000) })).status;
  } catch {
    return 0;
  }
}

/**
 * Checks what a sequential INCR writer's replies prove, given the time the master was lost:
 * within each side of the loss, consecutive acknowledged values are exactly one apart (nothing
 * ran in between: no INCR applied twice, no resend); the first value after the loss is at most
 * last-before + 1 + (errored INCRs, which may or may not have run on the old master); the
 * final value on the new master equals the last acknowledged one. Returns a summary line.
 */
export function checkIncrHistory(
  w: IncrWriter,
  splitAt: number,
  finalValue: number,
): { problems: string[]; summary: string; pre: Ack[]; post: Ack[] } {
  const problems: string[] = [];
  const pre = w.acks.filter((a) => a.at <= splitAt);
  const post = w.acks.filter((a) => a.at > splitAt);
  const consecutive = (list: Ack[], name: string): void => {
    for (let i = 1; i < list.length; i++) {
      if (list[i]!.value !== list[i - 1]!.value + 1) {
        problems.push(`${name}: acknowledged ${list[i - 1]!.value} then ${list[i]!.value} (expected +1: something ran in between or twice)`);
        return;
      }
    }
  };
  consecutive(pre, 'before the loss');
  consecutive(post, 'after the loss');
  const lastPre = pre.at(-1)?.value ?? 0;
  const firstPost = post[0]?.value;
  if (firstPost !== undefined && firstPost > lastPre + 1 + w.failures.length) {
    problems.push(`first value after the loss ${firstPost} > last before ${lastPre} + 1 + ${w.failures.length} errored INCRs: an INCR ran without its reply reaching the client`);
  }
  const lastAck = w.acks.at(-1)?.value;
  if (lastAck !== undefined && finalValue !== lastAck) {
    problems.push(`final counter ${finalValue} on the new master != last acknowledged value ${lastAck}`);
  }
  if (w.acks.length + w.failures.length !== w.sent) {
    problems.push(`sent ${w.sent} INCRs but got ${w.acks.length} integer + ${w.failures.length} error replies`);
  }
  const lostByReplication = firstPost !== undefined && firstPost <= lastPre ? lastPre + 1 - firstPost : 0;
  const summary =
    `sent=${w.sent} acked=${w.acks.length} (before=${pre.length} after=${post.length}) errors=${w.failures.length} ` +
    `last-before=${lastPre} first-after=${firstPost} final=${finalValue} acknowledged-lost-by-async-replication=${lostByReplication} ` +
    `error-texts=${JSON.stringify([...new Set(w.failures.map((f) => f.error.replace(/\d+/g, 'N')))])}`;
  return { problems, summary, pre, post };
}

/**
 * startAmbassador, tried up to 3 times: its fixture gives the process 5 s to listen, which a
 * machine busy with other test runs sometimes exceeds (node not even started: empty output).
 */
export async function startTrackedAmbassador(
  procs: Procs,
  opts: { env: Record<string, string>; waitPorts: number[] },
): Promise<AmbassadorProcess> {
  let last: Error | null = null;
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return procs.track(await startAmbassador(opts));
    } catch (err) {
      last = err as Error;
      console.log(`ambassador start attempt ${attempt} failed: ${last.message.split('\n')[0]}`);
    }
  }
  throw last!;
}
