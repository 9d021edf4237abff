/**
 * One JSON object per line on stdout: what container log drivers and log shippers expect.
 * Fields never include keys, values or secrets; callers pass only names, addresses and counts.
 */
import { LOG_LEVELS, type LogLevel } from '../config/settings.js';

const RANK: Record<LogLevel, number> = { debug: 10, info: 20, warn: 30, error: 40 };

export type LogFields = Record<string, string | number | boolean | null | undefined>;

export type LogWrite = (line: string) => void;

export class Logger {
  private readonly min: number;

  constructor(
    level: LogLevel,
    private readonly write: LogWrite = (line) => process.stdout.write(line),
    private readonly base: LogFields = {},
  ) {
    this.min = RANK[level];
  }

  child(fields: LogFields): Logger {
    const level = LOG_LEVELS.find((l) => RANK[l] === this.min)!;
    return new Logger(level, this.write, { ...this.base, ...fields });
  }

  enabled(level: LogLevel): boolean {
    return RANK[level] >= this.min;
  }

  debug(event: string, fields?: LogFields): void {
    if (this.min <= 10) this.emit('debug', event, fields);
  }
  info(event: string, fields?: LogFields): void {
    if (this.min <= 20) this.emit('info', event, fields);
  }
  warn(event: string, fields?: LogFields): void {
    if (this.min <= 30) this.emit('warn', event, fields);
  }
  error(event: string, fields?: LogFields): void {
    this.emit('error', event, fields);
  }

  private emit(level: LogLevel, event: string, fields?: LogFields): void {
    const record = { time: new Date().toISOString(), level, event, ...this.base, ...fields };
    this.write(JSON.stringify(record) + '\n');
  }
}
