import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { COMMAND_INDEX, UNKNOWN_COMMAND, fnv1a } from '../../../src/resp/commandIndex.js';
import { COMMAND_DEFS } from '../../../src/resp/commandTable.js';
import { TRAITS } from '../../../src/resp/commandTraits.js';
import { RespScanner } from '../../../src/resp/scanner.js';

const index = COMMAND_INDEX;

function multibulk(args: (string | Buffer)[]): Buffer {
  const parts: Buffer[] = [Buffer.from(`*${args.length}\r\n`)];
  for (const a of args) {
    const b = typeof a === 'string' ? Buffer.from(a, 'latin1') : a;
    parts.push(Buffer.from(`$${b.length}\r\n`), b, Buffer.from('\r\n'));
  }
  return Buffer.concat(parts);
}

/** Feeds one request through a real request scanner and looks up the command it names. */
function lookupBytes(bytes: Buffer | string): number {
  const ids: number[] = [];
  const s = new RespScanner('request', {
    onFrame: (sc) => ids.push(index.lookup(sc)),
    onProtocolError: (m) => expect.fail(m),
  });
  s.feed(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  expect(ids.length).toBe(1);
  return ids[0]!;
}

const label = (bytes: Buffer | string): string => TRAITS.names[lookupBytes(bytes)]!;

const ALL_NAMES = new Set(COMMAND_DEFS.map((d) => d.name));

describe('CommandIndex', () => {
  it('has no FNV-1a collisions among command names, nor among each command’s subcommands', () => {
    const top = COMMAND_DEFS.map((d) => fnv1a(Buffer.from(d.name)));
    expect(new Set(top).size).toBe(top.length);
    for (const d of COMMAND_DEFS) {
      const h = d.subcommands.map((s) => fnv1a(Buffer.from(s.name)));
      expect([d.name, new Set(h).size]).toEqual([d.name, h.length]);
    }
  });

  it('every name in COMMAND_DEFS looks up to its own id (multibulk, upper, lower and mixed case, inline)', () => {
    for (const d of COMMAND_DEFS) {
      const id = TRAITS.idOf(d.name);
      const mixed = [...d.name].map((c, i) => (i % 2 ? c.toUpperCase() : c)).join('');
      expect([d.name, lookupBytes(multibulk([d.name]))]).toEqual([d.name, id]);
      expect([d.name, lookupBytes(multibulk([d.name.toUpperCase()]))]).toEqual([d.name, id]);
      expect([d.name, lookupBytes(multibulk([mixed, 'arg']))]).toEqual([d.name, id]);
      expect([d.name, lookupBytes(`${d.name.toUpperCase()} x\r\n`)]).toEqual([d.name, id]);
    }
  });

  it('`*1\\r\\n$3\\r\\nGeT\\r\\n` is "get"', () => {
    expect(label('*1\r\n$3\r\nGeT\r\n')).toBe('get');
    expect(label('*2\r\n$3\r\nget\r\n$1\r\nk\r\n')).toBe('get');
  });

  it('every subcommand looks up to "command|sub", case-insensitively', () => {
    for (const d of COMMAND_DEFS) {
      for (const { name: s } of d.subcommands) {
        expect(label(multibulk([d.name.toUpperCase(), s.toUpperCase(), 'x']))).toBe(`${d.name}|${s}`);
        expect(label(`${d.name} ${s}\r\n`)).toBe(`${d.name}|${s}`);
      }
    }
  });

  it('CLIENT SETNAME x is client|setname; unknown or missing subcommands name the parent', () => {
    expect(label(multibulk(['CLIENT', 'SETNAME', 'x']))).toBe('client|setname');
    expect(label('client unknownsub\r\n')).toBe('client');
    expect(label('CLIENT\r\n')).toBe('client');
    expect(label(multibulk(['client', 'x'.repeat(40)]))).toBe('client');
    expect(label(multibulk(['client', '']))).toBe('client');
    // A subcommand word does not make a command without subcommands into anything else.
    expect(label('GET setname\r\n')).toBe('get');
    // Subcommand words are not commands on their own.
    expect(label('setname x\r\n')).toBe('unknown');
  });

  it('random names that are not commands are unknown (0)', () => {
    fc.assert(
      fc.property(fc.oneof(fc.string({ minLength: 1, maxLength: 40 }), fc.stringMatching(/^[a-z_|-]{1,20}$/)), (name) => {
        fc.pre(!ALL_NAMES.has(name.toLowerCase()));
        expect(lookupBytes(multibulk([Buffer.from(name, 'utf8')]))).toBe(UNKNOWN_COMMAND);
      }),
      { numRuns: 1000 },
    );
  });

  it('near misses and names longer than 32 bytes are unknown', () => {
    for (const name of ['ge', 'gett', 'get ', 'g\x00t', 'client|setname', 'a'.repeat(33), `get${'x'.repeat(40)}`, `${'x'.repeat(29)}get`]) {
      expect([name, lookupBytes(multibulk([name]))]).toEqual([name, UNKNOWN_COMMAND]);
    }
    // Only the first 32 bytes are captured: a 33-byte name that starts with a whole command is still unknown.
    expect(lookupBytes(multibulk([`subscribe${'s'.repeat(24)}`]))).toBe(UNKNOWN_COMMAND);
  });

  it('an empty command has no name', () => {
    const ids: number[] = [];
    const s = new RespScanner('request', { onFrame: (sc) => ids.push(index.lookup(sc)), onProtocolError: (m) => expect.fail(m) });
    s.feed(Buffer.from('*0\r\n\r\n*1\r\n$0\r\n\r\n'));
    expect(ids).toEqual([UNKNOWN_COMMAND, UNKNOWN_COMMAND, UNKNOWN_COMMAND]);
  });

  it('tokensWanted: the name alone for most commands, more where the traits ask for them, 1 for unknown names', () => {
    const wanted = (bytes: string): number => {
      const asked: number[] = [];
      const sink = { onFrame: () => {}, onProtocolError: (m: string) => expect.fail(m), tokensWanted: (sc: RespScanner) => { asked.push(index.tokensWanted(sc)); return asked.at(-1)!; } };
      new RespScanner('request', sink).feed(Buffer.from(bytes, 'latin1'));
      const bytewise = new RespScanner('request', sink);
      for (const b of Buffer.from(bytes, 'latin1')) bytewise.feed(Buffer.from([b]));
      expect(asked.length).toBe(2);
      expect(asked[0]).toBe(asked[1]);
      return asked[0]!;
    };
    // Asked at the name, whole frame or byte by byte: what the scanner must capture.
    for (const [words, n] of [
      [['GET', 'k'], 1],
      [['nosuchcommand', 'x'], 1],
      [['CONFIG', 'GET', 'x'], 2],
      [['HELLO', '3'], 2],
      // CLIENT REPLY's mode and CLIENT TRACKING's ON/OFF are third tokens.
      [['CLIENT', 'REPLY', 'OFF'], 3],
      // XREAD's BLOCK may come after COUNT n.
      [['XREAD', 'COUNT', '1', 'BLOCK', '0', 'STREAMS', 's', '$'], 8],
      [['XREADGROUP', 'GROUP', 'g', 'c', 'STREAMS', 's', '>'], 8],
    ] as const) {
      expect([words[0], wanted(multibulk([...words]).toString('latin1'))]).toEqual([words[0], n]);
    }
  });
});
