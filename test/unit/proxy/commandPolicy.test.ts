/**
 * AMBASSADOR_DENY_COMMANDS / AMBASSADOR_ALLOW_COMMANDS resolved against the real command table:
 * which ids pass, how subcommands (CONFIG|GET) and parents (CONFIG) combine, what happens to
 * commands outside the table, and the configuration errors a bad list gives.
 */
import { describe, expect, it } from 'vitest';
import { CommandPolicy } from '../../../src/proxy/commandPolicy.js';
import { ConfigError } from '../../../src/config/configError.js';
import { parseCommandList } from '../../../src/config/commandList.js';
import type { PolicySpec } from '../../../src/config/settings.js';
import { UNKNOWN_COMMAND } from '../../../src/resp/commandIndex.js';
import { TRAITS } from '../../../src/resp/commandTraits.js';

const id = (label: string): number => TRAITS.idOf(label);
// As cli.ts builds it: every label of the command table but id 0's "unknown".
// The same check cli.ts gives loadConfig.
const isCommand = (name: string): boolean => TRAITS.isLabel(name);

function policy(mode: 'deny' | 'allow', list: string): CommandPolicy {
  const source = mode === 'deny' ? 'AMBASSADOR_DENY_COMMANDS' : 'AMBASSADOR_ALLOW_COMMANDS';
  const spec: PolicySpec = { mode, names: parseCommandList(list, source, isCommand), source };
  return new CommandPolicy(spec);
}

/** Every label the policy lets through, for whole-table assertions. */
function allowedLabels(p: CommandPolicy): string[] {
  return TRAITS.names.filter((_, i) => p.allows(i));
}

describe('deny-list', () => {
  const p = policy('deny', 'FLUSHALL,CONFIG');

  it('refuses exactly the listed commands and every subcommand of a listed parent', () => {
    expect(p.allows(id('flushall'))).toBe(false);
    expect(p.allows(id('config'))).toBe(false);
    for (const label of TRAITS.names.filter((n) => n.startsWith('config|'))) expect(p.allows(id(label)), label).toBe(false);
    expect(TRAITS.names.filter((n) => n.startsWith('config|')).length).toBeGreaterThan(3); // get, set, rewrite, resetstat, …
  });

  it('lets everything else through, including commands outside the table (the upstream answers those)', () => {
    const refused = TRAITS.names.filter((_, i) => !p.allows(i));
    expect(refused.sort()).toEqual(['config', ...TRAITS.names.filter((n) => n.startsWith('config|')), 'flushall'].sort());
    expect(p.allows(UNKNOWN_COMMAND)).toBe(true);
    for (const label of ['get', 'set', 'flushdb', 'client|list', 'multi', 'exec']) expect(p.allows(id(label)), label).toBe(true);
  });

  it('a listed subcommand refuses only that subcommand; the parent alone and its siblings pass', () => {
    const sub = policy('deny', 'CONFIG|SET');
    expect(sub.allows(id('config|set'))).toBe(false);
    expect(sub.allows(id('config|get'))).toBe(true);
    expect(sub.allows(id('config'))).toBe(true);
    expect(TRAITS.names.length - allowedLabels(sub).length).toBe(1);
  });

  it('names are case-insensitive, surrounding blanks and empty entries are ignored', () => {
    const q = policy('deny', ' flushAll ,, Config|Get ,');
    expect(q.allows(id('flushall'))).toBe(false);
    expect(q.allows(id('config|get'))).toBe(false);
    expect(q.allows(id('config|set'))).toBe(true);
    expect(TRAITS.names.length - allowedLabels(q).length).toBe(2);
  });
});

describe('allow-list', () => {
  const p = policy('allow', 'GET,SET,CONFIG|GET');

  it('lets through only the listed commands and subcommands', () => {
    expect(allowedLabels(p).sort()).toEqual(['config|get', 'get', 'set']);
  });

  it('refuses the parent of an allowed subcommand on its own, its other subcommands, and unknown commands', () => {
    expect(p.allows(id('config'))).toBe(false);
    expect(p.allows(id('config|set'))).toBe(false);
    expect(p.allows(id('del'))).toBe(false);
    expect(p.allows(UNKNOWN_COMMAND)).toBe(false);
  });

  it('an allowed parent allows all of its subcommands', () => {
    const q = policy('allow', 'client');
    expect(allowedLabels(q).sort()).toEqual(['client', ...TRAITS.names.filter((n) => n.startsWith('client|'))].sort());
  });
});

describe('bad lists are configuration errors naming the variable and the name', () => {
  const cases: [string, 'deny' | 'allow', string, string][] = [
    ['a made-up command', 'deny', 'FLUSHALL,FLUSHEVERYTHING', 'flusheverything'],
    ['a made-up subcommand', 'allow', 'GET,CONFIG|BOGUS', 'config|bogus'],
    ['the internal "unknown" label', 'deny', 'unknown', 'unknown'],
    ['a subcommand of a command without subcommands', 'deny', 'GET|X', 'get|x'],
  ];
  for (const [what, mode, list, name] of cases) {
    it(what, () => {
      let err: unknown = null;
      try {
        policy(mode, list);
      } catch (e) {
        err = e;
      }
      expect(err).toBeInstanceOf(ConfigError);
      const message = (err as Error).message;
      expect(message).toContain(`"${name}"`);
      expect(message).toContain(mode === 'deny' ? 'AMBASSADOR_DENY_COMMANDS' : 'AMBASSADOR_ALLOW_COMMANDS');
    });
  }
});
