/**
 * A tiny step language for scripted Redis sessions over several connections, and a player that
 * runs one script against a port and records every byte each connection receives.
 *
 * Steps run strictly in order, and every step that expects replies waits for them, so two plays
 * of one script interleave their connections the same way: "A has its 3 replies" happens before
 * "B sends", on any server, through any relay.
 *
 * - send(conn, requests, opts): write the requests (commands from cmd(), inline text, raw bytes,
 *   or a function of captured values) and wait until `replies` more frames arrived on conn
 *   (default: one per request; 0 for a command that blocks, or whose reply is switched off).
 * - wait(conn, n): wait until n more frames arrived on conn (pushes, messages, MONITOR lines, the
 *   late reply of a blocked command).
 * - blocked(n): wait until the server reports n blocked clients (asked on a connection of the
 *   harness's own, never on the session's).
 * - closed(conn): wait until the server closed conn (QUIT, a protocol error).
 *
 * A connection's stream must end up with exactly the frames its steps expected: a session that
 * silently does less, or gets more, fails.
 */
import { RawClient } from './rawClient.js';
import { plain, type RespValue } from './resp.js';

/** Values captured from earlier replies in the same play (a cursor, a connection id, a DUMP). */
export type Vars = Record<string, string | Buffer>;
export type Request = Buffer | string | ((vars: Vars) => Buffer);

export interface Capture {
  name: string;
  /** From the step's first reply; default: a bulk string's bytes, else String(plain(reply)). */
  pick?: (reply: RespValue) => string | Buffer;
}

export type Step =
  | { kind: 'send'; conn: string; requests: Request[]; replies: number; exceptions: string[]; capture: Capture | null }
  | { kind: 'wait'; conn: string; replies: number }
  | { kind: 'blocked'; clients: number }
  | { kind: 'closed'; conn: string };

export interface SendOptions {
  /** Frames this send produces on conn (default: one per request). */
  replies?: number;
  /** Names of reply-scoped normalizations that apply to exactly these replies. */
  exceptions?: string[];
  capture?: string | Capture;
}

export function send(conn: string, requests: Request | Request[], opts: SendOptions = {}): Step {
  const list = Array.isArray(requests) ? requests : [requests];
  const capture = typeof opts.capture === 'string' ? { name: opts.capture } : (opts.capture ?? null);
  return { kind: 'send', conn, requests: list, replies: opts.replies ?? list.length, exceptions: opts.exceptions ?? [], capture };
}

export function wait(conn: string, replies: number): Step {
  return { kind: 'wait', conn, replies };
}

export function blocked(clients: number): Step {
  return { kind: 'blocked', clients };
}

export function closed(conn: string): Step {
  return { kind: 'closed', conn };
}

export interface Script {
  /** Connections, opened in this order before the first step (so ids and fds are given out alike). */
  conns: string[];
  steps: Step[];
}

/** Bytes [start, end) of one connection's stream that a send's exceptions apply to. */
export interface Marked {
  conn: string;
  start: number;
  end: number;
  exceptions: string[];
}

export interface Recording {
  streams: Map<string, Buffer>;
  /** Frames each connection's steps expected, and frames it got. */
  expected: Map<string, number>;
  got: Map<string, number>;
  marked: Marked[];
  /** The step that could not complete (timeout, connection closed early), if one did not. */
  failure: Error | null;
}

export interface PlayOptions {
  port: number;
  /** Write each send's bytes cut into pieces of these sizes (null: one write per send). */
  pieces: readonly number[] | null;
  /** Resolves once the server reports `n` blocked clients. */
  blockedClients(n: number): Promise<void>;
  timeoutMs: number;
}

export async function play(script: Script, opts: PlayOptions): Promise<Recording> {
  const clients = new Map<string, RawClient>();
  const expected = new Map<string, number>();
  const marked: Marked[] = [];
  const vars: Vars = {};
  let failure: Error | null = null;
  try {
    for (const name of script.conns) {
      clients.set(name, await RawClient.connect(opts.port));
      expected.set(name, 0);
    }
    const client = (name: string): RawClient => {
      const c = clients.get(name);
      if (!c) throw new Error(`step names connection ${JSON.stringify(name)}, not in conns ${JSON.stringify(script.conns)}`);
      return c;
    };
    const more = async (name: string, n: number): Promise<void> => {
      const total = expected.get(name)! + n;
      expected.set(name, total);
      await client(name).waitForFrames(total, opts.timeoutMs);
    };
    for (const [i, step] of script.steps.entries()) {
      const where = () => `step ${i + 1} (${describe(step)})`;
      try {
        switch (step.kind) {
          case 'send': {
            const c = client(step.conn);
            const first = expected.get(step.conn)!;
            const bytes = Buffer.concat(step.requests.map((r) => (typeof r === 'function' ? r(vars) : Buffer.isBuffer(r) ? r : Buffer.from(r, 'latin1'))));
            if (opts.pieces === null) await c.write(bytes);
            else await c.writeInPieces(bytes, opts.pieces);
            await more(step.conn, step.replies);
            const ends = c.frameEnds();
            const start = first === 0 ? 0 : ends[first - 1]!;
            const end = step.replies === 0 ? start : ends[first + step.replies - 1]!;
            if (step.exceptions.length > 0) marked.push({ conn: step.conn, start, end, exceptions: step.exceptions });
            if (step.capture) {
              const reply = c.replyAt(first);
              vars[step.capture.name] = step.capture.pick ? step.capture.pick(reply) : reply.type === 'bulk' && reply.value ? Buffer.from(reply.value) : String(plain(reply));
            }
            break;
          }
          case 'wait':
            await more(step.conn, step.replies);
            break;
          case 'blocked':
            await opts.blockedClients(step.clients);
            break;
          case 'closed':
            await client(step.conn).waitClosed(opts.timeoutMs);
            break;
        }
      } catch (e) {
        throw new Error(`${where()}: ${(e as Error).message}`);
      }
    }
  } catch (e) {
    failure = e as Error;
  }
  const streams = new Map<string, Buffer>();
  const got = new Map<string, number>();
  for (const [name, c] of clients) {
    streams.set(name, Buffer.from(c.received()));
    got.set(name, c.frameEnds().length);
    c.close();
  }
  return { streams, expected, got, marked, failure };
}

function describe(step: Step): string {
  switch (step.kind) {
    case 'send': {
      const shown = step.requests.map((r) => (typeof r === 'function' ? '(computed)' : Buffer.isBuffer(r) ? r : Buffer.from(r, 'latin1')));
      const text = shown.map((b) => (typeof b === 'string' ? b : b.toString('latin1', 0, 80))).join('');
      return `send on ${step.conn}: ${JSON.stringify(text.slice(0, 120))}, ${step.replies} replies`;
    }
    case 'wait':
      return `wait for ${step.replies} more on ${step.conn}`;
    case 'blocked':
      return `wait for ${step.clients} blocked clients`;
    case 'closed':
      return `wait for ${step.conn} to be closed`;
  }
}
