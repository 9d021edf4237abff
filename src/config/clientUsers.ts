/**
 * AMBASSADOR_TLS_CLIENT_USERS_FILE: which ACL user a client's upstream connections AUTH as, by
 * the identity its verified certificate carries. One line per identity:
 *
 *   <identity> <acl-user> <password>
 *
 * separated by blanks; the password is the rest of the line (it may hold blanks). Blank lines
 * and lines starting with # are ignored. Errors name the file and the line number, never a line's
 * text (it holds a password).
 */
import { ConfigError } from './configError.js';
import { readSecretBytes, type SecretFile } from './tlsMaterial.js';

export interface ClientUser {
  readonly user: string;
  readonly password: Buffer;
}

/** Identity (certificate subject CN, or a SAN where the certificate has no CN) → upstream ACL user. */
export type ClientUsers = ReadonlyMap<string, ClientUser>;

const LINE = /^(\S+)\s+(\S+)\s+(\S.*)$/;

export function parseClientUsers(text: string, file: SecretFile): ClientUsers {
  const users = new Map<string, ClientUser>();
  const firstLine = new Map<string, number>();
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.replace(/\r$/, '').trim();
    if (line === '' || line.startsWith('#')) continue;
    const m = LINE.exec(line);
    if (m === null) {
      throw new ConfigError(
        `${file.setting}: "${file.path}" line ${i + 1} is not "<identity> <acl-user> <password>" (three fields separated by blanks, for example: app-1 app s3cret)`,
      );
    }
    const identity = m[1]!;
    const seen = firstLine.get(identity);
    if (seen !== undefined) {
      throw new ConfigError(`${file.setting}: "${file.path}" line ${i + 1} names identity "${identity}" again (first on line ${seen}); give each identity one line`);
    }
    firstLine.set(identity, i + 1);
    users.set(identity, { user: m[2]!, password: Buffer.from(m[3]!) });
  }
  if (users.size === 0) {
    throw new ConfigError(`${file.setting}: "${file.path}" names no identity (one line per identity: <identity> <acl-user> <password>)`);
  }
  return users;
}

export function readClientUsers(file: SecretFile): ClientUsers {
  return parseClientUsers(readSecretBytes(file).toString('utf8'), file);
}
