/**
 * Role names Rolecall will never log in as, create or touch, whatever the
 * directory says. The database enforces the same list in rolecall.sync_login;
 * checking here too means a refused name never reaches the database at all.
 */
export function refusedLoginReason(login: string): string | null {
  const lower = login.toLowerCase();
  if (login.length === 0) return 'the login name is empty';
  if (Buffer.byteLength(login, 'utf8') > 63) return 'the login name is longer than 63 bytes, the PostgreSQL limit';
  if (/[\u0000-\u001f]/.test(login)) return 'the login name contains control characters';
  if (lower === 'postgres' || lower === 'public' || lower === 'none' || lower === 'current_user' || lower === 'session_user') {
    return `"${login}" is a reserved database role`;
  }
  if (lower.startsWith('pg_')) return 'names starting with pg_ are reserved by PostgreSQL';
  if (lower.startsWith('rds')) return 'names starting with rds are reserved by Amazon RDS';
  if (lower.startsWith('rolecall_')) return 'names starting with rolecall_ are reserved by Rolecall';
  return null;
}
