/** What the config unit tests share: the message of the ConfigError a call must throw, and a listener's static upstream. */
import { expect } from 'vitest';
import { ConfigError } from '../../../src/config/configError.js';
import type { ListenerSpec } from '../../../src/config/listenerSpec.js';

/** The message of the ConfigError `f` throws; any other error, or none, fails the test. */
export function configErrorOf(f: () => unknown): string {
  try {
    f();
  } catch (err) {
    expect(err).toBeInstanceOf(ConfigError);
    return (err as Error).message;
  }
  throw new Error('expected a ConfigError');
}

/** The one address of a static target; any other kind fails the test, naming what it was. */
export function staticUrl(l: ListenerSpec): string {
  if (l.target.kind !== 'static') throw new Error(`${l.name}: expected a static target, got ${l.target.kind}`);
  return l.target.upstream.url;
}
