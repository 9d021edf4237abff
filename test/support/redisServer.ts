/** A real redis-server on a free loopback port, for integration tests. */
import { spawn, type ChildProcess } from 'node:child_process';
import net from 'node:net';
import { freePort } from './freePort.js';

export interface RedisServer {
  readonly port: number;
  readonly process: ChildProcess;
  /** The upstream URL for the ambassador's contract. */
  readonly url: string;
  stop(signal?: NodeJS.Signals): Promise<void>;
}

export async function startRedis(extraArgs: string[] = [], port?: number): Promise<RedisServer> {
  const p = port ?? (await freePort());
  const child = spawn(
    'redis-server',
    ['--port', String(p), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--daemonize', 'no', ...extraArgs],
    { stdio: ['ignore', 'pipe', 'pipe'] },
  );
  let output = '';
  child.stdout!.on('data', (d: Buffer) => (output += d.toString()));
  child.stderr!.on('data', (d: Buffer) => (output += d.toString()));
  await waitForPort(p, 5000).catch((err: Error) => {
    child.kill('SIGKILL');
    throw new Error(`redis-server on ${p} did not start: ${err.message}\n${output}`);
  });
  return {
    port: p,
    process: child,
    url: `tcp://127.0.0.1:${p}`,
    stop: (signal = 'SIGTERM') =>
      new Promise<void>((resolve) => {
        if (child.exitCode !== null || child.signalCode !== null) return resolve();
        child.once('exit', () => resolve());
        child.kill(signal);
      }),
  };
}

export async function waitForPort(port: number, timeoutMs: number, host = '127.0.0.1'): Promise<void> {
  const deadline = Date.now() + timeoutMs;
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const s = net.connect({ port, host });
      s.once('connect', () => {
        s.destroy();
        resolve(true);
      });
      s.once('error', () => resolve(false));
    });
    if (ok) return;
    if (Date.now() > deadline) throw new Error(`nothing listening on ${host}:${port} after ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, 25));
  }
}
