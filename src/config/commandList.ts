import { ConfigError } from './configError.js';

/**
 * A comma list of Redis command names (`FLUSHALL`, `config`, `CONFIG|SET`) from `source`:
 * lower-cased, blanks and empty entries dropped, each checked with `isCommand` (the command table).
 */
export function parseCommandList(list: string, source: string, isCommand: (name: string) => boolean): string[] {
  const names = list.split(',').map((n) => n.trim().toLowerCase()).filter((n) => n !== '');
  if (names.length === 0) throw new ConfigError(`${source} is empty (for example FLUSHALL,FLUSHDB,CONFIG)`);
  for (const n of names) {
    if (!isCommand(n)) {
      throw new ConfigError(`${source}: "${n}" is not a Redis command (write names like FLUSHALL,CONFIG or a subcommand like CONFIG|SET)`);
    }
  }
  return names;
}
