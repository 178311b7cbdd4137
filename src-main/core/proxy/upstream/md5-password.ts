import { createHash } from 'node:crypto';

function md5Hex(data: Buffer | string): string {
  return createHash('md5').update(data).digest('hex');
}

/**
 * The answer to AuthenticationMD5Password: "md5" + md5(md5(password + user) + salt).
 * Legacy, but still what a role with an md5-stored password requires.
 */
export function md5PasswordResponse(user: string, password: string, salt: Buffer): string {
  const inner = md5Hex(Buffer.from(password + user, 'utf8'));
  return `md5${md5Hex(Buffer.concat([Buffer.from(inner, 'ascii'), salt]))}`;
}
