/** A Logger whose JSON lines are kept for assertions, for the upstream tests. */
import { Logger } from '../../../src/log/logger.js';

export interface LogRecord {
  readonly level: string;
  readonly event: string;
  readonly [field: string]: unknown;
}

export class LogCapture {
  readonly records: LogRecord[] = [];
  readonly logger = new Logger('debug', (line) => this.records.push(JSON.parse(line) as LogRecord));

  /** Records of `event`, in order. */
  events(event: string): LogRecord[] {
    return this.records.filter((r) => r.event === event);
  }
}
