/**
 * AMBASSADOR_DENY_COMMANDS / AMBASSADOR_ALLOW_COMMANDS: which commands may reach the upstream.
 * Names are Redis command names, case-insensitive; `config` covers all its subcommands and
 * `config|get` names one. Resolved once to a per-id table so the check is an array read.
 */
import type { PolicySpec } from '../config/settings.js';
import { UNKNOWN_COMMAND } from '../resp/commandIndex.js';
import { TRAITS, type CommandTraits } from '../resp/commandTraits.js';

export class CommandPolicy {
  private readonly allowed: Uint8Array;

  constructor(
    readonly spec: PolicySpec,
    index: CommandTraits = TRAITS,
  ) {
    const wanted = new Set(spec.names);
    this.allowed = new Uint8Array(index.size);
    for (let id = 0; id < index.size; id++) {
      const label = index.names[id]!;
      const listed = wanted.has(label) || wanted.has(label.split('|')[0]!);
      // Unknown commands are refused by an allow-list (they are not on it) and passed on by a
      // deny-list (the upstream answers them with its own error).
      const inList = id === UNKNOWN_COMMAND ? false : listed;
      this.allowed[id] = spec.mode === 'allow' ? (inList ? 1 : 0) : inList ? 0 : 1;
    }
  }

  allows(id: number): boolean {
    return this.allowed[id] === 1;
  }
}
