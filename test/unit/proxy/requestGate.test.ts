/**
 * RequestGate on its own: what it decides for each command, at the command name (early) and
 * with the whole frame (final), for AMBASSADOR_REQUIREPASS and for a command policy, and the
 * exact reply bytes of each refusal (Redis 7's texts for NOAUTH / WRONGPASS).
 */
import { describe, expect, it } from 'vitest';
import { CommandPolicy } from '../../../src/proxy/commandPolicy.js';
import { RequestGate, type Verdict } from '../../../src/proxy/requestGate.js';
import { decodeCommand } from '../../../src/resp/commandCodec.js';
import { UNKNOWN_COMMAND } from '../../../src/resp/commandIndex.js';
import { TRAITS } from '../../../src/resp/commandTraits.js';
import { parseCommandList } from '../../../src/config/commandList.js';

const id = (label: string): number => TRAITS.idOf(label);
// As cli.ts builds it: every label of the command table but id 0's "unknown".
// The same check cli.ts gives loadConfig.
const isCommand = (name: string): boolean => TRAITS.isLabel(name);
const PASS = 'pa55-w0rd';

const NOAUTH = '-NOAUTH Authentication required.\r\n';
const WRONGPASS = '-WRONGPASS invalid username-password pair or user is disabled.\r\n';
const HELLO_NOAUTH =
  '-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n';

function gate(opts: { pass?: string; deny?: string; allow?: string } = {}): RequestGate {
  const spec = opts.deny
    ? { mode: 'deny' as const, names: parseCommandList(opts.deny, 'AMBASSADOR_DENY_COMMANDS', isCommand), source: 'AMBASSADOR_DENY_COMMANDS' }
    : opts.allow
      ? { mode: 'allow' as const, names: parseCommandList(opts.allow, 'AMBASSADOR_ALLOW_COMMANDS', isCommand), source: 'AMBASSADOR_ALLOW_COMMANDS' }
      : null;
  return new RequestGate(spec ? new CommandPolicy(spec) : null, opts.pass === undefined ? null : Buffer.from(opts.pass));
}

const args = (...a: string[]): Buffer[] => a.map((x) => Buffer.from(x));

/** A verdict in a comparable form. */
function show(v: Verdict | 'wait'): unknown {
  if (v === 'wait') return 'wait';
  if (v.kind === 'forward') return 'forward';
  if (v.kind === 'rewrite') return { rewrite: decodeCommand(v.bytes)!.map(String) };
  return { reply: v.reply.toString('latin1'), reason: v.reason };
}

/** What the session does for a command the scanner reported: early at the name, then final if asked. */
function decide(g: RequestGate, label: string, ...rest: string[]): unknown {
  const cmd = label === 'unknown' ? UNKNOWN_COMMAND : id(label);
  const early = g.early(label.includes('|') ? id(label.split('|')[0]!) : cmd);
  if (early !== 'wait' && early.kind !== 'forward') return show(early);
  const words = label.split('|');
  return show(g.final(cmd, g.needsArgs(cmd) ? args(...words, ...rest) : null));
}

describe('AMBASSADOR_REQUIREPASS', () => {
  it('before AUTH every command but AUTH, HELLO, QUIT and RESET gets -NOAUTH, counted as "noauth"', () => {
    const g = gate({ pass: PASS });
    for (const label of ['get', 'set', 'ping', 'select', 'multi', 'client|setname', 'unknown']) {
      expect(decide(g, label), label).toEqual({ reply: NOAUTH, reason: 'noauth' });
    }
    expect(g.early(id('quit'))).toEqual({ kind: 'forward' });
    expect(g.early(id('auth'))).toBe('wait');
    expect(g.early(id('hello'))).toBe('wait');
    expect(g.needsArgs(id('auth'))).toBe(true);
    expect(g.needsArgs(id('hello'))).toBe(true);
    expect(g.needsArgs(id('get'))).toBe(false);
  });

  it('AUTH with a wrong password: -WRONGPASS, still unauthenticated; the right one: +OK (not forwarded), then commands pass', () => {
    const g = gate({ pass: PASS });
    expect(decide(g, 'auth', 'nope')).toEqual({ reply: WRONGPASS, reason: 'noauth' });
    expect(decide(g, 'get', 'k')).toEqual({ reply: NOAUTH, reason: 'noauth' });
    expect(decide(g, 'auth', PASS)).toEqual({ reply: '+OK\r\n', reason: null });
    expect(decide(g, 'get', 'k')).toBe('forward');
    expect(decide(g, 'flushall')).toBe('forward');
  });

  it('AUTH default <pass> works, AUTH <other user> <pass> does not (the ambassador has only the default user)', () => {
    expect(decide(gate({ pass: PASS }), 'auth', 'default', PASS)).toEqual({ reply: '+OK\r\n', reason: null });
    const g = gate({ pass: PASS });
    expect(decide(g, 'auth', 'admin', PASS)).toEqual({ reply: WRONGPASS, reason: 'noauth' });
    expect(decide(g, 'get', 'k')).toEqual({ reply: NOAUTH, reason: 'noauth' });
  });

  it('a password that is a prefix, an extension or a different case of the real one is wrong', () => {
    for (const wrong of [PASS.slice(0, -1), `${PASS}x`, PASS.toUpperCase(), '', `${PASS}\r\n`]) {
      const g = gate({ pass: PASS });
      expect(decide(g, 'auth', wrong), JSON.stringify(wrong)).toEqual({ reply: WRONGPASS, reason: 'noauth' });
    }
  });

  it('AUTH with no password or too many arguments: the error Redis gives for the arity', () => {
    const g = gate({ pass: PASS });
    expect(decide(g, 'auth')).toEqual({ reply: "-ERR wrong number of arguments for 'auth' command\r\n", reason: null });
    expect(decide(g, 'auth', 'a', 'b', 'c')).toEqual({ reply: "-ERR wrong number of arguments for 'auth' command\r\n", reason: null });
  });

  it('HELLO 3 before AUTH gets the NOAUTH text Redis gives for HELLO', () => {
    expect(decide(gate({ pass: PASS }), 'hello', '3')).toEqual({ reply: HELLO_NOAUTH, reason: 'noauth' });
  });

  it('HELLO 3 AUTH default <pass> [SETNAME n]: authenticates and is forwarded without its AUTH part', () => {
    const g = gate({ pass: PASS });
    expect(decide(g, 'hello', '3', 'AUTH', 'default', PASS, 'SETNAME', 'me')).toEqual({ rewrite: ['hello', '3', 'SETNAME', 'me'] });
    expect(decide(g, 'get', 'k')).toBe('forward');
    const h = gate({ pass: PASS });
    expect(decide(h, 'hello', '3', 'auth', 'default', PASS)).toEqual({ rewrite: ['hello', '3'] });
  });

  it('HELLO 3 AUTH with a wrong password: -WRONGPASS and nothing forwarded', () => {
    const g = gate({ pass: PASS });
    expect(decide(g, 'hello', '3', 'AUTH', 'default', 'nope')).toEqual({ reply: WRONGPASS, reason: 'noauth' });
    expect(decide(g, 'get', 'k')).toEqual({ reply: NOAUTH, reason: 'noauth' });
  });

  it('HELLO without AUTH once authenticated is forwarded unchanged', () => {
    const g = gate({ pass: PASS });
    decide(g, 'auth', PASS);
    expect(decide(g, 'hello', '3')).toBe('forward');
  });

  it('RESET is forwarded and makes the connection unauthenticated again, as in Redis', () => {
    const g = gate({ pass: PASS });
    decide(g, 'auth', PASS);
    expect(decide(g, 'reset')).toBe('forward');
    expect(decide(g, 'get', 'k')).toEqual({ reply: NOAUTH, reason: 'noauth' });
  });
});

describe('command policy', () => {
  it('a denied command is refused at its name, with -NOPERM naming it and the variable, reason "policy"', () => {
    const g = gate({ deny: 'FLUSHALL,CONFIG' });
    expect(show(g.early(id('flushall')))).toEqual({
      reply: "-NOPERM this ambassador does not allow the 'flushall' command (AMBASSADOR_DENY_COMMANDS)\r\n",
      reason: 'policy',
    });
    expect(show(g.early(id('get')))).toBe('forward');
  });

  it('a command with subcommands waits for the whole frame, then is judged by its subcommand', () => {
    const g = gate({ allow: 'GET,CONFIG|GET' });
    expect(g.early(id('config'))).toBe('wait');
    expect(show(g.final(id('config|get'), null))).toBe('forward');
    expect(show(g.final(id('config|set'), null))).toEqual({
      reply: "-NOPERM this ambassador does not allow the 'config|set' command (AMBASSADOR_ALLOW_COMMANDS)\r\n",
      reason: 'policy',
    });
    expect(show(g.early(id('del')))).toEqual({
      reply: "-NOPERM this ambassador does not allow the 'del' command (AMBASSADOR_ALLOW_COMMANDS)\r\n",
      reason: 'policy',
    });
  });

  it('with a password too: an unauthenticated client gets -NOAUTH for a denied command (authentication is checked first, as in Redis)', () => {
    const g = gate({ pass: PASS, deny: 'FLUSHALL,CONFIG' });
    expect(decide(g, 'flushall')).toEqual({ reply: NOAUTH, reason: 'noauth' });
    expect(show(g.early(id('config')))).toEqual({ reply: NOAUTH, reason: 'noauth' });
    decide(g, 'auth', PASS);
    expect(decide(g, 'flushall')).toEqual({
      reply: "-NOPERM this ambassador does not allow the 'flushall' command (AMBASSADOR_DENY_COMMANDS)\r\n",
      reason: 'policy',
    });
    expect(g.early(id('config'))).toBe('wait');
  });

  it('refusal texts never contain the password', () => {
    const g = gate({ pass: PASS, deny: 'FLUSHALL' });
    const texts: string[] = [];
    const collect = (v: unknown) => texts.push(JSON.stringify(v));
    collect(decide(g, 'get'));
    collect(decide(g, 'auth', 'wrong'));
    collect(decide(g, 'hello', '3'));
    collect(decide(g, 'hello', '3', 'AUTH', 'default', 'x'));
    collect(decide(g, 'auth'));
    collect(decide(g, 'auth', PASS));
    collect(decide(g, 'flushall'));
    expect(texts.join('\n')).not.toContain(PASS);
  });
});
