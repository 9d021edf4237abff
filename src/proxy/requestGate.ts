/**
 * Decides, per command, whether it goes to the upstream, is answered by the ambassador itself,
 * or goes on rewritten. Only exists when AMBASSADOR_REQUIREPASS or a command policy is set; without
 * them sessions skip it entirely.
 *
 * - AMBASSADOR_REQUIREPASS: like Redis's requirepass. Until the client authenticates, every
 *   command but AUTH, HELLO, QUIT and RESET gets -NOAUTH. AUTH is checked here and never reaches
 *   the upstream (the upstream's credentials are the ambassador's own); HELLO ... AUTH is checked
 *   here and forwarded without its AUTH part.
 * - A command policy refuses listed (or unlisted) commands with -NOPERM.
 * Refusals look like Redis's own, so clients handle them as they would a Redis ACL refusal.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import { encodeCommand } from '../resp/commandCodec.js';
import { ROLE, TRAITS } from '../resp/commandTraits.js';
import type { CommandPolicy } from './commandPolicy.js';

export type Verdict =
  | { readonly kind: 'forward' }
  | { readonly kind: 'local'; readonly reply: Buffer; readonly reason: RejectReason | null }
  | { readonly kind: 'rewrite'; readonly bytes: Buffer };

export type RejectReason = 'policy' | 'noauth';

const FORWARD: Verdict = { kind: 'forward' };
const NOAUTH = Buffer.from('-NOAUTH Authentication required.\r\n');
const WRONGPASS = Buffer.from('-WRONGPASS invalid username-password pair or user is disabled.\r\n');
const OK = Buffer.from('+OK\r\n');
const HELLO_NOAUTH = Buffer.from(
  '-NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time\r\n',
);

export class RequestGate {
  private authenticated: boolean;

  constructor(
    private readonly policy: CommandPolicy | null,
    /** The password clients must give, or null; a function where it can be reloaded (asked at every AUTH). */
    private readonly requirepass: Buffer | null | (() => Buffer | null),
  ) {
    this.authenticated = requirepass === null;
  }

  /** At the command name: 'wait' means the whole frame is needed to decide. */
  early(id: number): Verdict | 'wait' {
    if (this.requirepass !== null && isAuthOrHello(id)) return 'wait';
    // A policy may treat CONFIG GET and CONFIG SET differently: wait for the subcommand.
    if (this.policy !== null && TRAITS.hasSubcommands(id) && this.authenticated) return 'wait';
    return this.decide(id, null);
  }

  /** With the whole frame: `args` are its decoded arguments (only decoded for AUTH and HELLO). */
  final(id: number, args: Buffer[] | null): Verdict {
    return this.decide(id, args);
  }

  /** Whether `final` needs the frame's arguments. */
  needsArgs(id: number): boolean {
    return this.requirepass !== null && isAuthOrHello(id);
  }

  private decide(id: number, args: Buffer[] | null): Verdict {
    const v = this.decideFor(id, args);
    // Redis's rejectCommand() answers a refused EXEC as the transaction's abort.
    if (v.kind === 'local' && v.reason !== null && TRAITS.role[id] === ROLE.EXEC) {
      const text = v.reply.toString('latin1', 1).replace(/\r\n$/, '');
      return { ...v, reply: Buffer.from(`-EXECABORT Transaction discarded because of: ${text}\r\n`) };
    }
    return v;
  }

  private decideFor(id: number, args: Buffer[] | null): Verdict {
    const role = TRAITS.role[id];
    if (this.requirepass !== null) {
      if (role === ROLE.AUTH) return this.auth(args);
      if (role === ROLE.HELLO) return this.hello(args);
      if (role === ROLE.RESET) {
        // Redis's RESET authenticates the connection as the default user again: with a password, that is no one.
        this.authenticated = false;
        return FORWARD;
      }
      if (!this.authenticated && role !== ROLE.QUIT) return { kind: 'local', reply: NOAUTH, reason: 'noauth' };
    }
    if (this.policy !== null && !this.policy.allows(id)) {
      const name = TRAITS.names[id]!;
      const reply = Buffer.from(
        `-NOPERM this ambassador does not allow the '${name}' command (${this.policy.spec.source})\r\n`,
      );
      return { kind: 'local', reply, reason: 'policy' };
    }
    return FORWARD;
  }

  /** AUTH <password> or AUTH default <password>. */
  private auth(args: Buffer[] | null): Verdict {
    if (args === null) return { kind: 'local', reply: WRONGPASS, reason: 'noauth' };
    if (args.length < 2 || args.length > 3) {
      return { kind: 'local', reply: Buffer.from("-ERR wrong number of arguments for 'auth' command\r\n"), reason: null };
    }
    const ok = this.check(args.length === 2 ? null : args[1]!, args[args.length - 1]!);
    return { kind: 'local', reply: ok ? OK : WRONGPASS, reason: ok ? null : 'noauth' };
  }

  /** HELLO [protover [AUTH user pass] [SETNAME name]]: checked here, forwarded without AUTH. */
  private hello(args: Buffer[] | null): Verdict {
    if (args === null) return this.authenticated ? FORWARD : { kind: 'local', reply: HELLO_NOAUTH, reason: 'noauth' };
    const rest: Buffer[] = [];
    let sawAuth = false;
    for (let i = 1; i < args.length; i++) {
      if (i >= 2 && args[i]!.toString('latin1').toLowerCase() === 'auth') {
        const user = args[i + 1];
        const pass = args[i + 2];
        if (user === undefined || pass === undefined) return FORWARD; // let Redis report the syntax error
        if (!this.check(user, pass)) return { kind: 'local', reply: WRONGPASS, reason: 'noauth' };
        sawAuth = true;
        i += 2;
        continue;
      }
      rest.push(args[i]!);
    }
    if (!sawAuth) return this.authenticated ? FORWARD : { kind: 'local', reply: HELLO_NOAUTH, reason: 'noauth' };
    return { kind: 'rewrite', bytes: encodeCommand([args[0]!, ...rest]) };
  }

  private check(user: Buffer | null, pass: Buffer): boolean {
    const expected = typeof this.requirepass === 'function' ? this.requirepass() : this.requirepass;
    const ok = expected !== null && (user === null || user.toString() === 'default') && sameSecret(pass, expected);
    if (ok) this.authenticated = true;
    return ok;
  }
}

function isAuthOrHello(id: number): boolean {
  const role = TRAITS.role[id];
  return role === ROLE.AUTH || role === ROLE.HELLO;
}

/** Compares digests, so the time taken says nothing about the password's length or content. */
function sameSecret(a: Buffer, b: Buffer): boolean {
  const digest = (x: Buffer): Buffer => createHash('sha256').update(x).digest();
  return timingSafeEqual(digest(a), digest(b));
}
