/**
 * The one table of places where a direct run and a run through the ambassador may legitimately
 * differ. Everything else in differential.test.ts must match byte for byte.
 *
 * Each entry rewrites only the fields it is about, each to a placeholder, and each field's value
 * must have the form the entry expects. `scope: 'stream'` entries apply to every stream, so their
 * patterns are anchored on the reply's own structure (HELLO's proto and id pair, a MONITOR line's
 * start); `scope: 'reply'` entries apply only inside the replies of a send that names them
 * (sessions say `exceptions: ['clientId']`), and in the direct run such a send fails if its entry
 * matches nothing there (through the ambassador, a miss is left for the byte diff to show).
 * Streams are latin1 strings (one char a byte). Where a placeholder changes a length-prefixed
 * string, the entry checks the prefix against the content (so a wrong length still fails) and
 * writes `<len>` in its place.
 */
export interface Exception {
  /** Why the field differs between two runs of the same session (one line). */
  why: string;
  scope: 'stream' | 'reply';
  pattern: RegExp;
  replace: (match: string, ...groups: string[]) => string;
}

/** `$len\r\ncontent\r\n` or RESP3 `=len\r\ntxt:content\r\n`, with the content rewritten. */
function reprefixed(kind: string, len: string, content: string, rewrite: (content: string) => string): string {
  if (Number(len) !== content.length) throw new Error(`length prefix ${kind}${len} does not match ${content.length} bytes of content ${JSON.stringify(content)}`);
  // The prefix was checked against the content; a placeholder keeps a difference in the content
  // from showing first as a difference in the length.
  return `${kind}<len>\r\n${rewrite(content)}\r\n`;
}

/**
 * The CLIENT INFO fields that vary between two runs, each with the only form its value may take
 * and why it varies (the rest of the line must match).
 */
const CLIENT_INFO_VARYING: Record<string, { form: RegExp; why: string }> = {
  id: { form: /^\d+$/, why: 'connection ids are handed out in connection order' },
  addr: { form: /^127\.0\.0\.1:\d{1,5}$/, why: "the client's port (through the ambassador, its upstream socket's)" },
  age: { form: /^\d+$/, why: 'whole seconds since connect: a second may tick over in one run only' },
  idle: { form: /^\d+$/, why: 'whole seconds since the last command, likewise' },
  qbuf: {
    form: /^\d+$/,
    why: "the query buffer's unparsed bytes: the CLIENT INFO frame, less what redis-server parsed from an earlier read when a run cut the send into pieces that reached it in more than one read",
  },
  'qbuf-free': { form: /^\d+$/, why: 'free space in the query buffer, whose size follows rbs' },
  rbs: { form: /^\d+$/, why: "the query buffer's size: sized by how the request's bytes arrived, trimmed by the 100 ms client cron" },
  rbp: { form: /^\d+$/, why: "the query buffer's peak since the 100 ms client cron last reset it" },
  'tot-mem': { form: /^\d+$/, why: "the connection's memory, the query buffer included" },
};

function rewriteClientInfo(content: string): string {
  const seen = new Set<string>();
  const out = content.replace(/(?<=^(?:txt:)?| )([a-z-]+)=(\S*)/g, (field, name: string, value: string) => {
    const varying = CLIENT_INFO_VARYING[name];
    if (!varying) return field;
    if (!varying.form.test(value) || seen.has(name)) throw new Error(`CLIENT INFO field ${field} is not as expected in ${JSON.stringify(content)}`);
    seen.add(name);
    return `${name}=<${name}>`;
  });
  if (seen.size !== Object.keys(CLIENT_INFO_VARYING).length) throw new Error(`CLIENT INFO lacks one of ${Object.keys(CLIENT_INFO_VARYING).join(', ')}: ${JSON.stringify(content)}`);
  return out;
}

export const EXCEPTIONS = {
  helloId: {
    why: "HELLO's reply names the connection's id, which the server hands out in connection order, so two runs never share one",
    scope: 'stream',
    pattern: /(\$5\r\nproto\r\n:[23]\r\n\$2\r\nid\r\n):\d+\r\n/g,
    replace: (_m, before) => `${before}:<id>\r\n`,
  },
  monitorLine: {
    why: "every MONITOR line starts with the time the command ran and the sending client's address (the ambassador's own upstream port, through it)",
    scope: 'stream',
    pattern: /(?<=^|\r\n)\+\d{10}\.\d{6} \[(\d+) (127\.0\.0\.1:\d{1,5}|lua)\] /g,
    replace: (_m, db, client) => `+<time> [${db} ${client === 'lua' ? 'lua' : '127.0.0.1:<port>'}] `,
  },
  clientId: {
    why: 'CLIENT ID and CLIENT GETREDIR answer a connection id, handed out in connection order',
    scope: 'reply',
    pattern: /^:\d+\r\n$/,
    replace: () => ':<id>\r\n',
  },
  clientInfo: {
    why: "CLIENT INFO names the connection's id, port, age and idle seconds, and its query buffer's size and peak, which depend on timing (each field's why: CLIENT_INFO_VARYING)",
    scope: 'reply',
    pattern: /^([$=])(\d+)\r\n((?:txt:)?id=[^\r]*\n)\r\n/,
    replace: (_m, kind, len, content) => reprefixed(kind!, len!, content!, rewriteClientInfo),
  },
  slowlogEntry: {
    why: "a SLOWLOG entry carries its id (the counter runs for the server's lifetime; SLOWLOG RESET keeps it), the time it ran and its duration",
    scope: 'reply',
    pattern: /\*6\r\n:\d+\r\n:\d{10}\r\n:\d+\r\n/g,
    replace: () => '*6\r\n:<id>\r\n:<time>\r\n:<us>\r\n',
  },
  slowlogClient: {
    why: "a SLOWLOG entry names the client's address (the ambassador's own upstream port, through it)",
    scope: 'reply',
    pattern: /\$(\d+)\r\n(127\.0\.0\.1:\d{1,5})\r\n/g,
    replace: (_m, len, content) => reprefixed('$', len!, content!, () => '127.0.0.1:<port>'),
  },
  latencyLatest: {
    why: 'LATENCY LATEST gives, per event, when it last happened and how many milliseconds it took (latest and max)',
    scope: 'reply',
    pattern: /(\*4\r\n\$\d+\r\n[a-z-]+\r\n):\d{10}\r\n:\d+\r\n:\d+\r\n/g,
    replace: (_m, event) => `${event}:<time>\r\n:<ms>\r\n:<ms>\r\n`,
  },
  latencyHistory: {
    why: 'LATENCY HISTORY gives, per sample, when it happened and how many milliseconds it took',
    scope: 'reply',
    pattern: /\*2\r\n:\d{10}\r\n:\d+\r\n/g,
    replace: () => '*2\r\n:<time>\r\n:<ms>\r\n',
  },
} satisfies Record<string, Exception>;

export function exception(name: string): Exception {
  const e = (EXCEPTIONS as Record<string, Exception>)[name];
  if (!e) throw new Error(`no exception named ${JSON.stringify(name)} in differentialExceptions.ts`);
  return e;
}

/**
 * One connection's stream with the table applied: first the reply-scoped entries inside the
 * ranges that name them, then the stream-scoped ones everywhere.
 */
export function normalize(stream: Buffer, marked: readonly { start: number; end: number; exceptions: readonly string[] }[], opts: { requireMatch: boolean }): string {
  let text = stream.toString('latin1');
  // From the last range back, so that rewriting one keeps the earlier ranges' offsets valid.
  for (const m of [...marked].sort((a, b) => b.start - a.start)) {
    let slice = text.slice(m.start, m.end);
    for (const name of m.exceptions) {
      const e = exception(name);
      if (e.scope !== 'reply') throw new Error(`exception ${name} applies to whole streams; a send cannot name it`);
      let hits = 0;
      slice = slice.replace(e.pattern, (...args: unknown[]) => {
        hits++;
        return apply(e, args);
      });
      if (hits === 0 && opts.requireMatch) throw new Error(`exception ${name} matched nothing in the replies of the send that names it: ${JSON.stringify(slice.slice(0, 300))}`);
    }
    text = text.slice(0, m.start) + slice + text.slice(m.end);
  }
  for (const e of Object.values(EXCEPTIONS) as Exception[]) {
    if (e.scope === 'stream') text = text.replace(e.pattern, (...args: unknown[]) => apply(e, args));
  }
  return text;
}

/** String.replace hands a callback (match, ...groups, offset, whole string); no pattern here has named groups. */
function apply(e: Exception, args: unknown[]): string {
  return e.replace(...(args.slice(0, -2) as [string, ...string[]]));
}
