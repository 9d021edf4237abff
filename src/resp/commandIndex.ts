/**
 * Names commands without making strings: the scanner's FNV hash of the lower-cased first token
 * finds a candidate id, and a byte compare confirms it. Only names from the Redis command table
 * become ids, so a client sending random command names cannot grow the metric label set.
 */
import { COMMAND_DEFS } from './commandTable.js';
import { MAX_TOKENS, TOKEN_BYTES, type RespScanner } from './scanner.js';

export const UNKNOWN_COMMAND = 0;

const FNV_OFFSET = 0x811c9dc5;
const FNV_PRIME = 0x01000193;

export function fnv1a(bytes: Uint8Array): number {
  let h = FNV_OFFSET;
  for (let i = 0; i < bytes.length; i++) h = Math.imul(h ^ bytes[i]!, FNV_PRIME) >>> 0;
  return h;
}

interface Entry {
  readonly id: number;
  readonly bytes: Buffer;
}

export class CommandIndex {
  /** Metric label of each id: "get", "client|setname", …; id 0 is "unknown". */
  readonly names: string[] = ['unknown'];
  /** 1 for commands whose reply waits on other clients (BLPOP, WAIT, …). */
  readonly blocking: number[] = [0];
  /** Tokens (name included) the proxy reads of each command; see tokensWanted. */
  private readonly wanted: number[] = [];
  private readonly top = new Map<number, Entry>();
  private readonly sub = new Map<number, Map<number, Entry>>();
  // The top-level names again as an open-addressed table of typed arrays: every request is looked
  // up here (twice), and a Map look-up showed in the profile.
  private readonly slotId: Int32Array;
  private readonly slotHash: Uint32Array;
  private readonly slotMask: number;
  private readonly nameBytes: Buffer[] = [];

  constructor() {
    for (const def of COMMAND_DEFS) {
      const id = this.add(this.top, def.name, def.name);
      this.blocking[id] = def.blocking || def.name === 'wait' || def.name === 'waitaof' ? 1 : 0;
      this.wanted[id] = def.subcommands.length > 0 || def.name === 'hello' ? 2 : 1;
      if (def.name === 'client') this.wanted[id] = 3;
      if (def.name === 'xread' || def.name === 'xreadgroup') this.wanted[id] = MAX_TOKENS;
      if (def.subcommands.length > 0) {
        const subs = new Map<number, Entry>();
        this.sub.set(id, subs);
        for (const s of def.subcommands) {
          const sid = this.add(subs, s, `${def.name}|${s}`);
          this.blocking[sid] = 0;
        }
      }
    }
    let size = 16;
    while (size < this.top.size * 4) size *= 2;
    this.slotMask = size - 1;
    this.slotId = new Int32Array(size);
    this.slotHash = new Uint32Array(size);
    for (const [hash, e] of this.top) {
      let i = hash & this.slotMask;
      while (this.slotId[i] !== 0) i = (i + 1) & this.slotMask;
      this.slotId[i] = e.id;
      this.slotHash[i] = hash;
      this.nameBytes[e.id] = e.bytes;
    }
  }

  /**
   * How many leading tokens of a request the proxy reads, from its name alone: the name; a
   * subcommand; CLIENT REPLY's mode; HELLO's protocol; XREAD/XREADGROUP's options up to BLOCK.
   * Unknown commands need only their (unknown) name.
   */
  tokensWanted(s: RespScanner): number {
    const id = this.matchName(s);
    return this.wanted[id] ?? 1;
  }

  get size(): number {
    return this.names.length;
  }

  /** Whether the command has subcommands (CONFIG, CLIENT, …): its full id needs the second token. */
  hasSubcommands(id: number): boolean {
    return this.sub.has(id);
  }

  /** Id of a label, for the session's special cases; throws for a name not in the table. */
  idOf(label: string): number {
    const id = this.names.indexOf(label);
    if (id < 0) throw new Error(`command "${label}" is not in the command table`);
    return id;
  }

  /** Id of the command whose tokens the scanner holds (request frames only). */
  lookup(s: RespScanner): number {
    if (s.tokenCount === 0) return UNKNOWN_COMMAND;
    const id = this.matchName(s);
    if (id === UNKNOWN_COMMAND || s.tokenCount < 2) return id;
    const subs = this.sub.get(id);
    if (subs === undefined) return id;
    const sid = this.match(subs, s, 1);
    return sid === UNKNOWN_COMMAND ? id : sid;
  }

  /** Whether token `k` of the scanner's frame equals `word` (lower-case ASCII). */
  static tokenIs(s: RespScanner, k: number, word: string): boolean {
    if (k >= s.tokenCount || k >= MAX_TOKENS || s.tokenLength[k] !== word.length || word.length > TOKEN_BYTES) return false;
    const base = k * TOKEN_BYTES;
    for (let i = 0; i < word.length; i++) if (s.tokenBytes[base + i] !== word.charCodeAt(i)) return false;
    return true;
  }

  private add(map: Map<number, Entry>, word: string, label: string): number {
    const bytes = Buffer.from(word, 'latin1');
    const hash = fnv1a(bytes);
    // The table is fixed, so a collision is a build-time fact; unit tests would catch it.
    if (map.has(hash)) throw new Error(`command table hash collision: ${word}`);
    const id = this.names.length;
    this.names.push(label);
    map.set(hash, { id, bytes });
    return id;
  }

  /** The id of token 0 through the typed-array table (linear probing), or UNKNOWN_COMMAND. */
  private matchName(s: RespScanner): number {
    const len = s.tokenLength[0]!;
    if (len <= 0 || len > TOKEN_BYTES) return UNKNOWN_COMMAND;
    const hash = s.tokenHash[0]!;
    for (let i = hash & this.slotMask; ; i = (i + 1) & this.slotMask) {
      const id = this.slotId[i]!;
      if (id === 0) return UNKNOWN_COMMAND;
      if (this.slotHash[i] !== hash) continue;
      const bytes = this.nameBytes[id]!;
      if (bytes.length !== len) return UNKNOWN_COMMAND;
      for (let j = 0; j < len; j++) if (s.tokenBytes[j] !== bytes[j]) return UNKNOWN_COMMAND;
      return id;
    }
  }

  private match(map: Map<number, Entry>, s: RespScanner, k: number): number {
    const len = s.tokenLength[k]!;
    if (len <= 0 || len > TOKEN_BYTES) return UNKNOWN_COMMAND;
    const e = map.get(s.tokenHash[k]!);
    if (e === undefined || e.bytes.length !== len) return UNKNOWN_COMMAND;
    const base = k * TOKEN_BYTES;
    for (let i = 0; i < len; i++) if (s.tokenBytes[base + i] !== e.bytes[i]) return UNKNOWN_COMMAND;
    return e.id;
  }
}
