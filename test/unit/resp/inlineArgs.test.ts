import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { splitInlineArgs } from '../../../src/resp/inlineArgs.js';
import { oracleDecode, type Plain } from './scanHelpers.js';
import { exchange } from '../../support/rawClient.js';
import { redisForSuite } from '../../support/redisServer.js';

const split = (line: string): string[] | null => {
  const r = splitInlineArgs(Buffer.from(line, 'latin1'));
  return r === null ? null : r.map((b) => b.toString('latin1'));
};

describe('splitInlineArgs, as sdssplitargs() in redis-server', () => {
  it('separates arguments on whitespace and ignores leading/trailing blanks', () => {
    expect(split('PING')).toEqual(['PING']);
    expect(split('  set   key\tvalue \r')).toEqual(['set', 'key', 'value']);
    expect(split('')).toEqual([]);
    expect(split(' \t \r ')).toEqual([]);
  });

  it('keeps spaces inside double and single quotes', () => {
    expect(split('set a "b c"')).toEqual(['set', 'a', 'b c']);
    expect(split("set a 'b c'")).toEqual(['set', 'a', 'b c']);
    expect(split('"" \'\'')).toEqual(['', '']);
  });

  it('a quote inside a token starts quoting there', () => {
    expect(split('a"b c"')).toEqual(['ab c']);
    expect(split("x'y z' w")).toEqual(['xy z', 'w']);
  });

  it('understands \\xHH hex escapes in double quotes (either case), and not malformed ones', () => {
    expect(split('"\\x41\\x4a\\x4A\\x00\\xff"')).toEqual(['AJJ\x00\xff']);
    expect(split('"\\x4g"')).toEqual(['x4g']);
    expect(split('"\\x4"')).toEqual(['x4']);
  });

  it('understands \\n \\r \\t \\b \\a and \\<any> in double quotes', () => {
    expect(split('"a\\nb"')).toEqual(['a\nb']);
    expect(split('"\\r\\t\\b\\a"')).toEqual(['\r\t\b\x07']);
    expect(split('"\\q\\"\\\\"')).toEqual(['q"\\']);
  });

  it("single quotes understand only \\'", () => {
    expect(split("'it\\'s'")).toEqual(["it's"]);
    expect(split("'a\\nb'")).toEqual(['a\\nb']);
    expect(split("'\\x41'")).toEqual(['\\x41']);
  });

  it('a closing quote followed by a non-space is an error (null)', () => {
    expect(split('"a"b')).toBeNull();
    expect(split("'a'b")).toBeNull();
    expect(split('set "a"x y')).toBeNull();
    expect(split('"a" b')).toEqual(['a', 'b']);
    expect(split('"a"\tb')).toEqual(['a', 'b']);
  });

  it('unbalanced quotes are an error (null)', () => {
    expect(split('set a "b')).toBeNull();
    expect(split("set a 'b")).toBeNull();
    expect(split('"abc\\"')).toBeNull();
    expect(split('"abc\\')).toBeNull();
    expect(split("'abc\\'")).toBeNull();
  });
});

describe('splitInlineArgs against a real redis-server (RPUSH the arguments, read them back)', () => {
  const redis = redisForSuite();

  /** What redis-server makes of `line` as inline arguments: the list, or null for unbalanced quotes. */
  async function redisSplit(line: Buffer): Promise<Buffer[] | null> {
    const req = Buffer.concat([Buffer.from('RPUSH inl '), line, Buffer.from('\r\n*4\r\n$6\r\nLRANGE\r\n$3\r\ninl\r\n$1\r\n0\r\n$2\r\n-1\r\n*2\r\n$3\r\nDEL\r\n$3\r\ninl\r\n')]);
    // Three replies, or the close that follows a protocol error.
    const out = (await exchange(redis().port, req, (c) => c.closed || c.frameEnds().length >= 3)).received();
    const text = out.toString('latin1');
    if (text.startsWith('-ERR Protocol error: unbalanced quotes in request')) return null;
    const replies: Plain[] = oracleDecode(out);
    expect(replies.length).toBe(3);
    if (typeof replies[0] === 'object' && replies[0] !== null && 'error' in replies[0]) {
      expect(replies[0].error).toBe("ERR wrong number of arguments for 'rpush' command");
      return [];
    }
    return (replies[1] as string[]).map((h) => Buffer.from(h.slice(4), 'hex'));
  }

  it('the hand-picked cases above agree with redis-server', async () => {
    const lines = ['a "b c"', '"\\x41\\x4a"', '"\\x4g"', "'it\\'s'", '"a"b', 'set a "b', '"a\\nb"', "x'y z' w", '   ', '"" \'\'', '"\\q\\"\\\\"'];
    for (const line of lines) {
      const mine = splitInlineArgs(Buffer.from(line, 'latin1'));
      expect([line, await redisSplit(Buffer.from(line, 'latin1'))]).toEqual([line, mine]);
    }
  });

  it('random lines split the same way as redis-server does', async () => {
    // Every byte that matters to sdssplitargs except \n (ends the line) and NUL (redis-server's
    // strchr() never finds the end of such a line).
    const unit = fc.constantFrom('a', 'B', ' ', ' ', '\t', '\r', '\v', '\f', '"', '"', "'", "'", '\\', '\\', 'x', '4', 'f', 'n', 't', '\xff', '\x01');
    await fc.assert(
      fc.asyncProperty(fc.string({ unit, maxLength: 14 }), async (line) => {
        const bytes = Buffer.from(line, 'latin1');
        expect(await redisSplit(bytes)).toEqual(splitInlineArgs(bytes));
      }),
      { numRuns: 250 },
    );
  });

  it('only space, \\t, \\r and \\n end an unquoted argument, as in sdssplitargs (not \\v or \\f)', async () => {
    // sdssplitargs skips blanks with isspace() but ends an unquoted token only on ' ', \n, \r,
    // \t or NUL; inlineArgs.ts uses isSpace() (which includes \v and \f) for both.
    for (const line of ['a\x0bb', 'a\x0cb']) {
      const bytes = Buffer.from(line, 'latin1');
      const real = await redisSplit(bytes);
      expect(real).toEqual([Buffer.from(line, 'latin1')]);
      expect(splitInlineArgs(bytes)).toEqual(real);
    }
  });

  it('\\v and \\f are skipped as blanks between arguments, as isspace() does', async () => {
    const bytes = Buffer.from('\x0b\x0ca \x0c\x0bb\x0b', 'latin1');
    // Leading blanks and blanks after a space are skipped by both; only the first argument is
    // compared, since the trailing \v ends the second one only for inlineArgs.ts (see above).
    const real = await redisSplit(bytes);
    expect(real?.[0]?.toString('latin1')).toBe('a');
    expect(splitInlineArgs(bytes)?.[0]?.toString('latin1')).toBe('a');
  });
});
