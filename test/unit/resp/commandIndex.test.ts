import { describe, expect, it } from 'vitest';
import fc from 'fast-check';
import { CommandIndex, UNKNOWN_COMMAND, fnv1a } from '../../../src/resp/commandIndex.js';
import { COMMAND_DEFS } from '../../../src/resp/commandTable.js';
import { RespScanner } from '../../../src/resp/scanner.js';

const index = new CommandIndex();

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

const label = (bytes: Buffer | string): string => index.names[lookupBytes(bytes)]!;

const ALL_NAMES = new Set(COMMAND_DEFS.map((d) => d.name));

describe('CommandIndex', () => {
  it('has one id per command and subcommand, with id 0 "unknown"', () => {
    const subs = COMMAND_DEFS.reduce((n, d) => n + d.subcommands.length, 0);
    expect(index.size).toBe(1 + COMMAND_DEFS.length + subs);
    expect(index.names[UNKNOWN_COMMAND]).toBe('unknown');
    expect(new Set(index.names).size).toBe(index.names.length);
    expect(index.blocking.length).toBe(index.size);
  });

  it('has no FNV-1a collisions among command names, nor among each command’s subcommands', () => {
    const top = COMMAND_DEFS.map((d) => fnv1a(Buffer.from(d.name)));
    expect(new Set(top).size).toBe(top.length);
    for (const d of COMMAND_DEFS) {
      const h = d.subcommands.map((s) => fnv1a(Buffer.from(s)));
      expect([d.name, new Set(h).size]).toEqual([d.name, h.length]);
    }
  });

  it('every name in COMMAND_DEFS looks up to its own id (multibulk, upper, lower and mixed case, inline)', () => {
    for (const d of COMMAND_DEFS) {
      const id = index.idOf(d.name);
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
      for (const s of d.subcommands) {
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

  it('idOf throws for a label not in the table', () => {
    expect(index.idOf('get')).toBeGreaterThan(0);
    expect(index.idOf('client|reply')).toBeGreaterThan(0);
    expect(() => index.idOf('nosuchcommand')).toThrow(/not in the command table/);
  });

  it('marks blocking commands (Redis "blocking" flag, WAIT) and only those', () => {
    for (const name of ['blpop', 'brpop', 'blmove', 'bzpopmin', 'wait']) expect([name, index.blocking[index.idOf(name)]]).toEqual([name, 1]);
    for (const name of ['get', 'set', 'client|pause', 'subscribe', 'unknown']) expect([name, index.blocking[index.idOf(name)]]).toEqual([name, 0]);
  });

  it('tokenIs compares a captured token with a lower-case word', () => {
    let checked = false;
    const s = new RespScanner('request', {
      onFrame: (sc) => {
        expect(CommandIndex.tokenIs(sc, 0, 'client')).toBe(true);
        expect(CommandIndex.tokenIs(sc, 1, 'reply')).toBe(true);
        expect(CommandIndex.tokenIs(sc, 2, 'skip')).toBe(true);
        expect(CommandIndex.tokenIs(sc, 2, 'ski')).toBe(false);
        expect(CommandIndex.tokenIs(sc, 2, 'skipp')).toBe(false);
        expect(CommandIndex.tokenIs(sc, 3, 'x')).toBe(false);
        checked = true;
      },
      onProtocolError: (m) => expect.fail(m),
    });
    s.feed(multibulk(['CLIENT', 'Reply', 'SKIP']));
    expect(checked).toBe(true);
  });
});
