import { COMMAND_DEFS } from '../resp/commandTable.js';
import { ConfigError } from './configError.js';

/**
 * A comma list of Redis command names (`FLUSHALL`, `config`, `CONFIG|SET`) from `source`:
 * lower-cased, blanks and empty entries dropped, each checked against the command table.
 */
export function parseCommandList(list: string, source: string): string[] {
  const known = new Set<string>();
  for (const d of COMMAND_DEFS) {
    known.add(d.name);
    for (const s of d.subcommands) known.add(`${d.name}|${s}`);
  }
  const names = list.split(',').map((n) => n.trim().toLowerCase()).filter((n) => n !== '');
  if (names.length === 0) throw new ConfigError(`${source} is empty (for example FLUSHALL,FLUSHDB,CONFIG)`);
  for (const n of names) {
    if (!known.has(n)) {
      throw new ConfigError(`${source}: "${n}" is not a Redis command (write names like FLUSHALL,CONFIG or a subcommand like CONFIG|SET)`);
    }
  }
  return names;
}
