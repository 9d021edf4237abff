/** What the upstream unit tests share: an upstream's address, fast health-check settings, and one command's reply as text. */
import type { UpstreamAddress } from '../../../src/config/address.js';
import type { HealthOptions } from '../../../src/upstream/healthCheck.js';
import { RawClient } from '../../support/rawClient.js';
import { cmd } from '../../support/resp.js';

/** The plain-TCP upstream on a loopback port, as the config would name it. */
export const addressOf = (port: number): UpstreamAddress => ({ host: '127.0.0.1', port, tls: false, url: `tcp://127.0.0.1:${port}` });

/** Health checks that probe every 50 ms and call a server down at its first failure. */
export const HEALTH: Omit<HealthOptions, 'probe'> = { intervalMs: 50, timeoutMs: 1000, failuresBeforeDown: 1, preamble: null, tls: null };

/** One command on a fresh connection; what has arrived once a CR LF has, as text: the whole of a one-line reply ("+OK\r\n"). */
export async function ask(port: number, ...args: string[]): Promise<string> {
  const c = await RawClient.connect(port);
  try {
    await c.write(cmd(...args));
    return (await c.waitForBytes((b) => b.includes('\r\n'), args.join(' '))).toString('latin1');
  } finally {
    c.close();
  }
}
