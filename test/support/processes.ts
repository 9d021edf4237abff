/**
 * Child processes: running a command to completion, starting a long-running one, reading a live
 * one's state from /proc, and the teardown list every test file registers what it started with.
 * Only processes a test started are ever signalled, each by its own ChildProcess handle.
 */
import { spawn, type ChildProcess, type SpawnOptions } from 'node:child_process';
import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import os from 'node:os';
import path from 'node:path';

export interface RunResult {
  code: number | null;
  signal: NodeJS.Signals | null;
  stdout: string;
  stderr: string;
}

/** Runs a command to completion (killed after timeoutMs) and collects its output. */
export function run(
  command: string,
  args: string[],
  opts: { env?: NodeJS.ProcessEnv; input?: string | Buffer; timeoutMs?: number } = {},
): Promise<RunResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command, args, { env: opts.env ?? process.env, stdio: ['pipe', 'pipe', 'pipe'] } as SpawnOptions);
    let stdout = '';
    let stderr = '';
    child.stdout!.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr!.on('data', (d: Buffer) => (stderr += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), opts.timeoutMs ?? 60_000);
    child.once('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.once('close', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal, stdout, stderr });
    });
    child.stdin!.on('error', () => {});
    if (opts.input !== undefined) child.stdin!.end(opts.input);
    else child.stdin!.end();
  });
}

/** A long-running child with its output collected. */
export interface Child {
  readonly process: ChildProcess;
  /** stdout and stderr as they came. */
  output(): string;
  stdout(): string;
  /** Sends `signal` (SIGKILL unless told) if it still runs; resolves with its exit code once it has exited. */
  stop(signal?: NodeJS.Signals): Promise<number | null>;
}

export function startChild(command: string, args: string[], env?: NodeJS.ProcessEnv): Child {
  const child = spawn(command, args, { stdio: ['ignore', 'pipe', 'pipe'], env: env ?? process.env });
  let out = '';
  let stdout = '';
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString();
    stdout += d.toString();
  });
  child.stderr!.on('data', (d: Buffer) => (out += d.toString()));
  // A command that cannot be spawned shows as its exit and whatever its starter waits for.
  child.on('error', () => {});
  return {
    process: child,
    output: () => out,
    stdout: () => stdout,
    stop: (signal = 'SIGKILL') =>
      new Promise((resolve) => {
        if (!alive(child)) return resolve(child.exitCode);
        child.once('exit', (code) => resolve(code));
        child.kill(signal);
      }),
  };
}

export function alive(p: ChildProcess): boolean {
  return p.exitCode === null && p.signalCode === null;
}

/**
 * How `p` exited; rejects if it still runs after `timeoutMs`, so that a hang fails fast rather
 * than at the test timeout. May be called before the signal is sent and awaited after.
 */
export function exited(p: ChildProcess, timeoutMs = 5000): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (!alive(p)) return Promise.resolve({ code: p.exitCode, signal: p.signalCode });
  const done = new Promise<{ code: number | null; signal: NodeJS.Signals | null }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`pid ${p.pid} did not exit within ${timeoutMs} ms`)), timeoutMs);
    p.once('exit', (code, signal) => {
      clearTimeout(timer);
      resolve({ code, signal });
    });
  });
  // Not an unhandled rejection while the caller is still busy sending the signal.
  done.catch(() => {});
  return done;
}

/** Resident set size of a live process in bytes, from /proc/<pid>/status (Linux). */
export function rssBytes(pid: number): number {
  const status = readFileSync(`/proc/${pid}/status`, 'utf8');
  const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
  if (!m) throw new Error(`no VmRSS for ${pid}`);
  return Number(m[1]) * 1024;
}

/** Open file descriptors of a live process (Linux). */
export function fdCount(pid: number): number {
  return readdirSync(`/proc/${pid}/fd`).length;
}

/** The scheduler state letter of /proc/<pid>/stat ('T' when stopped). */
export function procState(pid: number): string {
  const stat = readFileSync(`/proc/${pid}/stat`, 'latin1');
  return stat.slice(stat.lastIndexOf(')') + 2).split(' ')[0]!;
}

/** Whether this host can bind the IPv6 loopback address. */
export function ipv6LoopbackAvailable(): Promise<boolean> {
  return new Promise((resolve) => {
    const s = net.createServer();
    s.once('error', () => resolve(false));
    s.listen(0, '::1', () => s.close(() => resolve(true)));
  });
}

/** Kills `p` for good: SIGCONT first, so that a SIGSTOPped one dies too, then SIGKILL. */
async function kill(p: ChildProcess): Promise<void> {
  if (!alive(p)) return;
  for (const signal of ['SIGCONT', 'SIGKILL'] as const) {
    try {
      p.kill(signal);
    } catch {
      // already gone
    }
  }
  await exited(p, 5000).catch(() => {});
}

/**
 * What a test file started, undone at teardown (run() in afterEach or afterAll), newest first,
 * each step's failure not stopping the others; run() also after a failed test.
 */
export class Cleanup {
  private readonly fns: (() => unknown)[] = [];

  add<T>(thing: T, fn: (t: T) => unknown): T {
    this.fns.push(() => fn(thing));
    return thing;
  }

  /** A process, or what holds one (RedisServer, AmbassadorProcess, Child), killed at teardown. */
  track<T extends { readonly process: ChildProcess }>(x: T): T {
    return this.add(x, (t) => kill(t.process));
  }

  /** A fresh temporary directory, removed at teardown. */
  tempDir(prefix: string): string {
    return this.add(mkdtempSync(path.join(os.tmpdir(), prefix)), (d) => rmSync(d, { recursive: true, force: true }));
  }

  async run(): Promise<void> {
    const fns = this.fns.splice(0).reverse();
    for (const fn of fns) {
      try {
        await fn();
      } catch {
        // keep cleaning up
      }
    }
  }
}
