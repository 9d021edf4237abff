/**
 * AMBASSADOR_UPSTREAM_MODE=shared: whether a command lets its client stay on a shared upstream
 * connection. The reasons come from the command traits table; this only reads the arguments where
 * they decide (SELECT 0 keeps the pool's database, XREAD blocks only with BLOCK).
 */
import { ROLE, TRAITS, type PinReason } from '../resp/commandTraits.js';
import { readBlocks } from '../resp/frameView.js';
import type { RespScanner } from '../resp/scanner.js';

export function pinReason(id: number, s: RespScanner, args: Buffer[] | null): PinReason | null {
  const reason = TRAITS.pin[id];
  if (reason === null) return null;
  switch (TRAITS.role[id]) {
    case ROLE.SELECT:
      return args !== null && args.length === 2 && args[1]!.toString('latin1') === '0' ? null : 'select';
    // Options past the tokens read may hold a BLOCK: a client that might block never shares.
    case ROLE.XREAD:
      return readBlocks(s, 1) !== false ? 'blocking' : null;
    case ROLE.XREADGROUP:
      return readBlocks(s, 4) !== false ? 'blocking' : null;
    default:
      return reason;
  }
}
