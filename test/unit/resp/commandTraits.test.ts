/**
 * The one traits table: ids, labels, roles and categories built from the generated command table.
 * (Naming commands from scanned bytes is commandIndex.test.ts.)
 */
import { describe, expect, it } from 'vitest';
import { UNKNOWN_COMMAND } from '../../../src/resp/commandIndex.js';
import { COMMAND_DEFS } from '../../../src/resp/commandTable.js';
import { ROLE, TRAITS } from '../../../src/resp/commandTraits.js';

const id = (label: string): number => TRAITS.idOf(label);

describe('TRAITS', () => {
  it('has one id per command and subcommand, with id 0 "unknown", every per-id table the same size', () => {
    const subs = COMMAND_DEFS.reduce((n, d) => n + d.subcommands.length, 0);
    expect(TRAITS.size).toBe(1 + COMMAND_DEFS.length + subs);
    expect(TRAITS.names[UNKNOWN_COMMAND]).toBe('unknown');
    expect(new Set(TRAITS.names).size).toBe(TRAITS.names.length);
    for (const table of [TRAITS.role, TRAITS.category, TRAITS.tokensWanted, TRAITS.wantsArgs, TRAITS.parent, TRAITS.facts]) {
      expect(table.length).toBe(TRAITS.size);
    }
  });

  it('labels subcommands "parent|sub", and their parent is the parent command', () => {
    expect(TRAITS.parent[id('client|setname')]).toBe(id('client'));
    expect(TRAITS.parent[id('client')]).toBe(id('client'));
    expect(TRAITS.parent[id('get')]).toBe(id('get'));
    expect(TRAITS.hasSubcommands(id('config'))).toBe(true);
    expect(TRAITS.hasSubcommands(id('get'))).toBe(false);
    expect(TRAITS.display(id('client|setname'))).toBe('CLIENT SETNAME');
    expect(TRAITS.facts[id('get')]?.arity).toBe(2);
    expect(TRAITS.facts[UNKNOWN_COMMAND]).toBeNull();
  });

  it('idOf throws for a label not in the table', () => {
    expect(id('get')).toBeGreaterThan(0);
    expect(id('client|reply')).toBeGreaterThan(0);
    expect(() => id('nosuchcommand')).toThrow(/not in the command table/);
  });

  it('marks blocking commands (Redis "blocking" flag, WAIT) and only those', () => {
    for (const name of ['blpop', 'brpop', 'blmove', 'bzpopmin', 'wait']) {
      expect([name, TRAITS.category[id(name)], TRAITS.role[id(name)]]).toEqual([name, 'blocking', ROLE.BLOCKING]);
    }
    for (const name of ['get', 'set', 'client|pause', 'subscribe', 'unknown']) {
      const i = name === 'unknown' ? UNKNOWN_COMMAND : id(name);
      expect([name, TRAITS.category[i] === 'blocking', TRAITS.role[i] === ROLE.BLOCKING]).toEqual([name, false, false]);
    }
  });

  it('XREAD and XREADGROUP are in the blocking category but have their own role (blocking only with BLOCK)', () => {
    for (const [name, role] of [['xread', ROLE.XREAD], ['xreadgroup', ROLE.XREADGROUP]] as const) {
      expect([name, TRAITS.category[id(name)], TRAITS.role[id(name)]]).toEqual([name, 'blocking', role]);
    }
  });

  it('gives the commands the ambassador treats specially their roles, and everything else PLAIN', () => {
    const roles: [string, number][] = [
      ['subscribe', ROLE.SUBSCRIBE],
      ['unsubscribe', ROLE.UNSUBSCRIBE],
      ['psubscribe', ROLE.PSUBSCRIBE],
      ['punsubscribe', ROLE.PUNSUBSCRIBE],
      ['ssubscribe', ROLE.SSUBSCRIBE],
      ['sunsubscribe', ROLE.SUNSUBSCRIBE],
      ['hello', ROLE.HELLO],
      ['reset', ROLE.RESET],
      ['monitor', ROLE.MONITOR],
      ['sync', ROLE.REPLICATION],
      ['psync', ROLE.REPLICATION],
      ['multi', ROLE.MULTI],
      ['exec', ROLE.EXEC],
      ['discard', ROLE.DISCARD],
      ['watch', ROLE.WATCH],
      ['unwatch', ROLE.UNWATCH],
      ['quit', ROLE.QUIT],
      ['auth', ROLE.AUTH],
      ['select', ROLE.SELECT],
      ['client|setname', ROLE.CLIENT_SETNAME],
      ['readonly', ROLE.READONLY],
      ['readwrite', ROLE.READWRITE],
      ['client|reply', ROLE.CLIENT_REPLY],
      ['client|tracking', ROLE.CLIENT_TRACKING],
    ];
    for (const [name, role] of roles) expect([name, TRAITS.role[id(name)]]).toEqual([name, role]);
    const special = new Set(roles.map(([n]) => id(n)));
    for (let i = 1; i < TRAITS.size; i++) {
      if (special.has(i) || TRAITS.category[i] === 'blocking') continue;
      expect([TRAITS.names[i], TRAITS.role[i]]).toEqual([TRAITS.names[i], ROLE.PLAIN]);
    }
  });

  it('wants the decoded arguments of exactly the commands whose arguments are state', () => {
    const wanted = TRAITS.names.filter((_, i) => TRAITS.wantsArgs[i] === 1).sort();
    expect(wanted).toEqual(['auth', 'client|setname', 'hello', 'psubscribe', 'punsubscribe', 'select', 'ssubscribe', 'subscribe', 'sunsubscribe', 'unsubscribe']);
  });

  it('puts every CLIENT subcommand in the connection category', () => {
    for (const label of TRAITS.names.filter((n) => n.startsWith('client|'))) expect([label, TRAITS.category[id(label)]]).toEqual([label, 'connection']);
    expect(TRAITS.category[id('get')]).toBe('ordinary');
    expect(TRAITS.category[id('multi')]).toBe('transaction');
    expect(TRAITS.category[id('subscribe')]).toBe('pubsub');
    expect(TRAITS.category[id('psync')]).toBe('replication');
  });

  it('a parent with subcommands wants as many tokens as its most demanding subcommand', () => {
    expect(TRAITS.tokensWanted[id('get')]).toBe(1);
    expect(TRAITS.tokensWanted[id('config')]).toBe(2);
    expect(TRAITS.tokensWanted[id('client|reply')]).toBe(3);
    expect(TRAITS.tokensWanted[id('client')]).toBe(3);
    expect(TRAITS.tokensWanted[id('hello')]).toBe(2);
    for (const [parent, subs] of TRAITS.subcommands) {
      for (const s of subs) expect(TRAITS.tokensWanted[parent]).toBeGreaterThanOrEqual(TRAITS.tokensWanted[id(`${TRAITS.names[parent]}|${s}`)]!);
    }
  });

  it('isLabel: names and subcommand labels of the table, not "unknown" nor made-up ones', () => {
    expect(['get', 'config', 'config|set', 'client|setname'].map((l) => TRAITS.isLabel(l))).toEqual([true, true, true, true]);
    expect(['unknown', 'get|x', 'nosuchcommand', 'GET', ''].map((l) => TRAITS.isLabel(l))).toEqual([false, false, false, false, false]);
  });
});
