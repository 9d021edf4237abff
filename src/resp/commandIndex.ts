/**
 * Names commands without making strings: the scanner's FNV hash of the lower-cased first token
 * finds a candidate id, and a byte compare confirms it. Only names from the command table become
 * ids (see commandTraits.ts), so a client sending random command names cannot grow the metric
 * label set.
 */
import { TRAITS, type CommandTraits } from './commandTraits.js';
import { TOKEN_BYTES, type RespScanner } from './scanner.js';

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
  private readonly sub = new Map<number, Map<number, Entry>>();
  // Top-level names as an open-addressed table of typed arrays: every request is looked up here
  // (twice), and a Map look-up showed in the profile.
  private readonly slotId: Int32Array;
  private readonly slotHash: Uint32Array;
  private readonly slotMask: number;
  private readonly nameBytes: Buffer[] = [];

  constructor(readonly traits: CommandTraits = TRAITS) {
    const top = new Map<number, Entry>();
    for (let id = 1; id < traits.size; id++) {
      const label = traits.names[id]!;
      const parent = traits.parent[id]!;
      if (parent === id) {
        add(top, label, id);
      } else {
        let subs = this.sub.get(parent);
        if (subs === undefined) this.sub.set(parent, (subs = new Map()));
        add(subs, label.slice(label.indexOf('|') + 1), id);
      }
    }
    let size = 16;
    while (size < top.size * 4) size *= 2;
    this.slotMask = size - 1;
    this.slotId = new Int32Array(size);
    this.slotHash = new Uint32Array(size);
    for (const [hash, e] of top) {
      let i = hash & this.slotMask;
      while (this.slotId[i] !== 0) i = (i + 1) & this.slotMask;
      this.slotId[i] = e.id;
      this.slotHash[i] = hash;
      this.nameBytes[e.id] = e.bytes;
    }
  }

  /** How many leading tokens of a request the proxy reads, from its name alone (commandTraits). */
  tokensWanted(s: RespScanner): number {
    return this.traits.tokensWanted[this.matchName(s)] ?? 1;
  }

  /** Id of the command whose tokens the scanner holds (request frames only). */
  lookup(s: RespScanner): number {
    if (s.tokenCount === 0) return UNKNOWN_COMMAND;
    const id = this.matchName(s);
    if (id === UNKNOWN_COMMAND || s.tokenCount < 2) return id;
    const subs = this.sub.get(id);
    if (subs === undefined) return id;
    const sid = match(subs, s, 1);
    return sid === UNKNOWN_COMMAND ? id : sid;
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
}

function add(map: Map<number, Entry>, word: string, id: number): void {
  const bytes = Buffer.from(word, 'latin1');
  const hash = fnv1a(bytes);
  // The table is fixed, so a collision is a build-time fact; unit tests would catch it.
  if (map.has(hash)) throw new Error(`command table hash collision: ${word}`);
  map.set(hash, { id, bytes });
}

function match(map: Map<number, Entry>, s: RespScanner, k: number): number {
  const len = s.tokenLength[k]!;
  if (len <= 0 || len > TOKEN_BYTES) return UNKNOWN_COMMAND;
  const e = map.get(s.tokenHash[k]!);
  if (e === undefined || e.bytes.length !== len) return UNKNOWN_COMMAND;
  const base = k * TOKEN_BYTES;
  for (let i = 0; i < len; i++) if (s.tokenBytes[base + i] !== e.bytes[i]) return UNKNOWN_COMMAND;
  return e.id;
}

/** The index over the built-in table. */
export const COMMAND_INDEX = new CommandIndex(TRAITS);
