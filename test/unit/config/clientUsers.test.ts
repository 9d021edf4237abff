/** The users file's format: what a line is, what is ignored, and errors that never quote a line. */
import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../../src/config/configError.js';
import { parseClientUsers } from '../../../src/config/clientUsers.js';

const FILE = { setting: 'AMBASSADOR_TLS_CLIENT_USERS_FILE', path: '/run/secrets/users' };
const users = (text: string) => Object.fromEntries([...parseClientUsers(text, FILE)].map(([id, u]) => [id, `${u.user}:${u.password.toString()}`]));

describe('parseClientUsers', () => {
  it('reads <identity> <acl-user> <password>; the password is the rest of the line, blanks and all', () => {
    expect(users('app-1 app s3cret\nspiffe://prod/web   web   two words here  \r\n')).toEqual({ 'app-1': 'app:s3cret', 'spiffe://prod/web': 'web:two words here' });
  });

  it('skips blank lines and lines starting with #', () => {
    expect(users('# identity user password\n\n   \n  # indented comment\napp-1 app pw\n')).toEqual({ 'app-1': 'app:pw' });
  });

  it.each([
    ['a line with two fields', 'app-1 app\n', /line 1 is not "<identity> <acl-user> <password>"/],
    ['a line with one field, after a good one', 'app-1 app pw\n\nlonely\n', /line 3 is not/],
    ['an identity twice', 'app-1 app pw\napp-2 b pw\napp-1 c pw\n', /line 3 names identity "app-1" again \(first on line 1\)/],
    ['no identity at all', '# only a comment\n\n', /names no identity/],
  ])('refuses %s, naming the setting, the file and the line', (_what, text, message) => {
    const attempt = () => parseClientUsers(text, FILE);
    expect(attempt).toThrow(ConfigError);
    expect(attempt).toThrow(message);
    expect(attempt).toThrow(/^AMBASSADOR_TLS_CLIENT_USERS_FILE: "\/run\/secrets\/users"/);
  });

  it('never quotes the password in an error', () => {
    try {
      parseClientUsers('app-1 app pw\napp-1 other hunter2\n', FILE);
      expect.unreachable();
    } catch (err) {
      expect((err as Error).message).not.toContain('hunter2');
    }
  });
});
