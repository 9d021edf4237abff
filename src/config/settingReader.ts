/**
 * Reads one setting at a time, from its flag or else its environment variable, and checks it:
 * every error names the variable and says what a good value looks like (never echoing a secret).
 */
import { readFileSync } from 'node:fs';
import { ConfigError } from './configError.js';

export class SettingReader {
  constructor(
    /** Values given as flags, by the variable they override. */
    private readonly flags: ReadonlyMap<string, string>,
    private readonly env: NodeJS.ProcessEnv,
  ) {}

  /** The raw value; an empty variable counts as unset. */
  text(name: string): string | undefined {
    const v = this.flags.get(name) ?? this.env[name];
    return v === undefined || v === '' ? undefined : v;
  }

  positiveInt(name: string, fallback: number): number {
    const text = this.text(name);
    if (text === undefined) return fallback;
    if (!/^[0-9]+$/.test(text) || Number(text) <= 0 || !Number.isSafeInteger(Number(text))) {
      throw new ConfigError(`${name}: "${text}" is not a positive whole number (default ${fallback})`);
    }
    return Number(text);
  }

  /** Milliseconds where 0 means off. */
  wholeNumber(name: string, fallback: number): number {
    const text = this.text(name);
    if (text === undefined) return fallback;
    if (!/^[0-9]+$/.test(text) || !Number.isSafeInteger(Number(text))) {
      throw new ConfigError(`${name}: "${text}" is not a whole number of milliseconds, 0 for off (default ${fallback})`);
    }
    return Number(text);
  }

  onOff(name: string, fallback: boolean): boolean {
    const text = this.text(name)?.toLowerCase();
    if (text === undefined) return fallback;
    if (['on', 'true', '1', 'yes'].includes(text)) return true;
    if (['off', 'false', '0', 'no'].includes(text)) return false;
    throw new ConfigError(`${name}: "${text}" is not on or off (default ${fallback ? 'on' : 'off'})`);
  }

  /** One of `choices` (case-insensitive); `explain` says what each means, for the error. */
  choice<T extends string>(name: string, choices: readonly T[], fallback: T, explain: string): T {
    const text = (this.text(name) ?? fallback).toLowerCase();
    if (!(choices as readonly string[]).includes(text)) throw new ConfigError(`${name}: "${text}" is not ${explain}`);
    return text as T;
  }

  /**
   * A secret from NAME or from the file NAME_FILE (Docker/Kubernetes secrets), trailing newline
   * dropped. Error messages name the variable, never the value.
   */
  secret(name: string): Buffer | null {
    const direct = this.text(name);
    const file = this.text(`${name}_FILE`);
    if (direct !== undefined && file !== undefined) throw new ConfigError(`${name} and ${name}_FILE are both set; use one`);
    if (direct !== undefined) return Buffer.from(direct);
    if (file === undefined) return null;
    return readSecretFile(file, `${name}_FILE`);
  }
}

/** A secret file's contents, trailing newline dropped; `what` names the setting in errors. */
export function readSecretFile(file: string, what: string): Buffer {
  let text: string;
  try {
    text = readFileSync(file, 'utf8');
  } catch (err) {
    throw new ConfigError(`${what}: cannot read "${file}": ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`);
  }
  const value = text.replace(/\r?\n$/, '');
  if (value === '') throw new ConfigError(`${what}: "${file}" is empty`);
  return Buffer.from(value);
}
