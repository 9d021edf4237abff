/**
 * A tiny, independent RESP2/RESP3 codec for tests: encodes commands and splits a reply stream
 * into decoded values. Deliberately not the project's scanner, so tests do not grade the code
 * with itself. redis-parser (RESP2 only) is the other oracle, see resp2Parser().
 */
import { createRequire } from 'node:module';

export type RespValue =
  | { type: 'simple' | 'error' | 'bignum' | 'double' | 'verbatim' | 'bloberror'; value: string }
  | { type: 'integer'; value: number }
  | { type: 'bulk'; value: Buffer | null }
  | { type: 'boolean'; value: boolean }
  | { type: 'null'; value: null }
  | { type: 'array' | 'set' | 'push'; value: RespValue[] | null }
  | { type: 'map' | 'attribute'; value: [RespValue, RespValue][] };

/** A command as a RESP multibulk. */
export function cmd(...args: (string | number | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = Buffer.isBuffer(a) ? a : Buffer.from(String(a));
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

class Incomplete extends Error {}

/** Decodes every complete top-level value in `buf`; `consumed` is where the last one ended. */
export function parseFrames(buf: Buffer): { values: RespValue[]; consumed: number } {
  const values: RespValue[] = [];
  let pos = 0;
  for (;;) {
    if (pos >= buf.length) break;
    try {
      const [v, next] = parseValue(buf, pos);
      values.push(v);
      pos = next;
    } catch (e) {
      if (e instanceof Incomplete) break;
      throw e;
    }
  }
  return { values, consumed: pos };
}

function line(buf: Buffer, pos: number): [string, number] {
  const cr = buf.indexOf('\r\n', pos);
  if (cr < 0) throw new Incomplete();
  return [buf.toString('latin1', pos, cr), cr + 2];
}

function parseValue(buf: Buffer, pos: number): [RespValue, number] {
  if (pos >= buf.length) throw new Incomplete();
  const t = String.fromCharCode(buf[pos]!);
  const [text, next] = line(buf, pos + 1);
  const blob = (n: number): [Buffer, number] => {
    if (next + n + 2 > buf.length) throw new Incomplete();
    return [buf.subarray(next, next + n), next + n + 2];
  };
  const many = (n: number, p: number): [RespValue[], number] => {
    const out: RespValue[] = [];
    for (let i = 0; i < n; i++) {
      const [v, q] = parseValue(buf, p);
      out.push(v);
      p = q;
    }
    return [out, p];
  };
  switch (t) {
    case '+':
      return [{ type: 'simple', value: text }, next];
    case '-':
      return [{ type: 'error', value: text }, next];
    case ':':
      return [{ type: 'integer', value: Number(text) }, next];
    case '(':
      return [{ type: 'bignum', value: text }, next];
    case ',':
      return [{ type: 'double', value: text }, next];
    case '#':
      return [{ type: 'boolean', value: text === 't' }, next];
    case '_':
      return [{ type: 'null', value: null }, next];
    case '$': {
      const n = Number(text);
      if (n < 0) return [{ type: 'bulk', value: null }, next];
      const [b, q] = blob(n);
      return [{ type: 'bulk', value: b }, q];
    }
    case '=':
    case '!': {
      const [b, q] = blob(Number(text));
      return [{ type: t === '=' ? 'verbatim' : 'bloberror', value: b.toString() }, q];
    }
    case '*':
    case '~':
    case '>': {
      const n = Number(text);
      const type = t === '*' ? 'array' : t === '~' ? 'set' : 'push';
      if (n < 0) return [{ type, value: null }, next];
      const [vs, q] = many(n, next);
      return [{ type, value: vs }, q];
    }
    case '%':
    case '|': {
      const n = Number(text);
      const [vs, q] = many(2 * n, next);
      const pairs: [RespValue, RespValue][] = [];
      for (let i = 0; i < vs.length; i += 2) pairs.push([vs[i]!, vs[i + 1]!]);
      if (t === '|') {
        // An attribute decorates the value that follows it; return that value.
        return parseValue(buf, q);
      }
      return [{ type: 'map', value: pairs }, q];
    }
    default:
      throw new Error(`not RESP at offset ${pos}: ${JSON.stringify(buf.toString('latin1', pos, pos + 40))}`);
  }
}

/** A readable form of a value for assertions: strings, numbers, arrays, objects for maps. */
export function plain(v: RespValue): unknown {
  switch (v.type) {
    case 'bulk':
      return v.value === null ? null : v.value.toString();
    case 'array':
    case 'set':
    case 'push':
      return v.value === null ? null : v.value.map(plain);
    case 'map':
    case 'attribute':
      return Object.fromEntries(v.value.map(([k, x]) => [String(plain(k)), plain(x)]));
    case 'error':
      return { error: v.value };
    default:
      return v.value;
  }
}

interface RedisParser {
  execute(buf: Buffer): void;
}
type RedisParserCtor = new (opts: {
  returnReply: (r: unknown) => void;
  returnError: (e: Error) => void;
  returnFatalError?: (e: Error) => void;
  returnBuffers?: boolean;
}) => RedisParser;

/** redis-parser 3 (the RESP2 oracle the issue names), fed incrementally. */
export function resp2Parser(onReply: (r: unknown) => void, onError: (e: Error) => void = (e) => onReply(e)): RedisParser {
  const Parser = createRequire(import.meta.url)('redis-parser') as RedisParserCtor;
  return new Parser({
    returnReply: onReply,
    returnError: onError,
    returnFatalError: (e) => {
      throw e;
    },
    returnBuffers: true,
  });
}

/**
 * Finds where complete top-level frames end in a growing reply stream, without decoding them and
 * without recursion: aggregates are tracked with a stack of element counts, so a reply nested
 * thousands deep (Redis sends ~8000 levels for a self-referencing Lua table) costs no call
 * stack, and a walk resumes where the last one stopped, so a reply arriving in many chunks is
 * walked once in all.
 */
export class FrameWalker {
  /** Offset just past each complete top-level frame found so far. */
  readonly ends: number[] = [];
  private pos = 0;
  /** Elements each open aggregate still owes, innermost last; empty between frames. */
  private readonly owed: number[] = [];
  private need = 1;

  /** The stream must be at least this long before walking can find anything new. */
  get needed(): number {
    return this.need;
  }

  /** `buf` is the whole stream so far (each call's a prefix of the next); returns ends. */
  walk(buf: Buffer): readonly number[] {
    if (buf.length < this.need) return this.ends;
    for (;;) {
      const pos = this.pos;
      const cr = buf.indexOf(CRLF, pos + 1);
      if (pos >= buf.length || cr < 0) {
        this.need = buf.length + 1;
        return this.ends;
      }
      const n = lineNumber(buf, pos + 1, cr);
      let next = cr + 2;
      let children = 0;
      switch (buf[pos]) {
        case 0x24: // $ bulk
        case 0x3d: // = verbatim
        case 0x21: // ! blob error
          if (n >= 0) next += n + 2;
          break;
        case 0x2a: // * array
        case 0x7e: // ~ set
        case 0x3e: // > push
          children = Math.max(0, n);
          break;
        case 0x25: // % map
          children = 2 * n;
          break;
        case 0x7c: // | attribute: its pairs, then the value it decorates
          children = 2 * n + 1;
          break;
        case 0x2b: // + - : ( , # _ carry everything on their line
        case 0x2d:
        case 0x3a:
        case 0x28:
        case 0x2c:
        case 0x23:
        case 0x5f:
          break;
        default:
          throw new Error(`not RESP at offset ${pos}: ${JSON.stringify(buf.toString('latin1', pos, pos + 40))}`);
      }
      if (next > buf.length) {
        this.need = next;
        return this.ends;
      }
      this.pos = next;
      const owed = this.owed;
      if (owed.length > 0) owed[owed.length - 1]!--;
      if (children > 0) owed.push(children);
      while (owed.length > 0 && owed[owed.length - 1] === 0) owed.pop();
      if (owed.length === 0) this.ends.push(next);
    }
  }
}

const CRLF = Buffer.from('\r\n');

/** The integer on a header line, or NaN for text (a simple string's or error's). */
function lineNumber(buf: Buffer, from: number, to: number): number {
  let i = from;
  const neg = buf[i] === 0x2d;
  if (neg) i++;
  if (i === to) return NaN;
  let n = 0;
  for (; i < to; i++) {
    const d = buf[i]! - 0x30;
    if (d < 0 || d > 9) return NaN;
    n = n * 10 + d;
  }
  return neg ? -n : n;
}
