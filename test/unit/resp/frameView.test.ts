/** Reading captured tokens: tokenIs, tokenStartsWith, tokenInteger, errorWord, on frames a real scanner reported. */
import { describe, expect, it } from 'vitest';
import { errorWord, tokenInteger, tokenIs, tokenStartsWith } from '../../../src/resp/frameView.js';
import { RespScanner, type ScannerMode } from '../../../src/resp/scanner.js';
import { cmd } from '../../support/resp.js';

/** Runs `check` on the one frame `bytes` holds; fails if the scanner reports anything else. */
function onFrame(mode: ScannerMode, bytes: Buffer | string, check: (s: RespScanner) => void): void {
  let frames = 0;
  const s = new RespScanner(mode, {
    onFrame: (sc) => {
      frames++;
      check(sc);
    },
    onProtocolError: (m) => expect.fail(m),
  });
  s.feed(typeof bytes === 'string' ? Buffer.from(bytes, 'latin1') : bytes);
  expect(frames).toBe(1);
}

describe('frameView', () => {
  it('tokenIs compares a captured token with a lower-case word', () => {
    onFrame('request', cmd('CLIENT', 'Reply', 'SKIP'), (sc) => {
      expect(tokenIs(sc, 0, 'client')).toBe(true);
      expect(tokenIs(sc, 1, 'reply')).toBe(true);
      expect(tokenIs(sc, 2, 'skip')).toBe(true);
      expect(tokenIs(sc, 2, 'ski')).toBe(false);
      expect(tokenIs(sc, 2, 'skipp')).toBe(false);
      expect(tokenIs(sc, 3, 'x')).toBe(false);
    });
  });

  it('tokenIs is false for a word longer than what is captured, even when the captured bytes match', () => {
    const long = 'x'.repeat(40);
    onFrame('request', cmd('GET', long), (sc) => {
      expect(tokenIs(sc, 1, long)).toBe(false);
      expect(tokenStartsWith(sc, 1, 'x'.repeat(32))).toBe(true);
      expect(tokenStartsWith(sc, 1, 'x'.repeat(33))).toBe(false);
    });
  });

  it('tokenStartsWith matches a prefix of the token only', () => {
    onFrame('reply', '-NOAUTH Authentication required.\r\n', (sc) => {
      expect(tokenStartsWith(sc, 0, 'noauth')).toBe(true);
      expect(tokenStartsWith(sc, 0, 'noauth authentication')).toBe(true);
      expect(tokenStartsWith(sc, 0, 'wrongpass')).toBe(false);
      expect(tokenStartsWith(sc, 1, 'noauth')).toBe(false);
    });
  });

  it('tokenInteger reads a short non-negative integer, from an integer reply or a bulk token', () => {
    onFrame('reply', '*3\r\n$9\r\nsubscribe\r\n$1\r\na\r\n:12\r\n', (sc) => {
      expect(tokenInteger(sc, 2)).toBe(12);
      expect(tokenInteger(sc, 1)).toBe(-1); // "a"
      expect(tokenInteger(sc, 3)).toBe(-1); // not captured
    });
    onFrame('request', cmd('SELECT', '15'), (sc) => expect(tokenInteger(sc, 1)).toBe(15));
    onFrame('request', cmd('SELECT', '-1'), (sc) => expect(tokenInteger(sc, 1)).toBe(-1));
    onFrame('request', cmd('SELECT', ''), (sc) => expect(tokenInteger(sc, 1)).toBe(-1));
    onFrame('reply', '*2\r\n$-1\r\n*0\r\n', (sc) => {
      expect(tokenInteger(sc, 0)).toBe(-1); // null
      expect(tokenInteger(sc, 1)).toBe(-1); // an aggregate
    });
  });

  it('errorWord is the error code upper-cased, for simple and blob errors; "" when there is none', () => {
    onFrame('reply', '-WRONGTYPE Operation against a key\r\n', (sc) => expect(errorWord(sc)).toBe('WRONGTYPE'));
    onFrame('reply', '-wrongpass lower\r\n', (sc) => expect(errorWord(sc)).toBe('WRONGPASS'));
    onFrame('reply', '-NOSPACE\r\n', (sc) => expect(errorWord(sc)).toBe('NOSPACE'));
    onFrame('reply', '!21\r\nBUSYKEY Target exists\r\n', (sc) => expect(errorWord(sc)).toBe('BUSYKEY'));
    onFrame('reply', '- leading space\r\n', (sc) => expect(errorWord(sc)).toBe(''));
    onFrame('reply', '-\r\n', (sc) => expect(errorWord(sc)).toBe(''));
  });
});
