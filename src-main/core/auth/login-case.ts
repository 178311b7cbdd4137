/**
 * The database login for a directory account name: lowercased by default
 * (`loginCase: lower`), as typed in the directory with `preserve`. Sign-in and
 * the access check both use this, so they can never name different roles.
 */
export function databaseLogin(directoryLogin: string, loginCase: 'lower' | 'preserve'): string {
  return loginCase === 'lower' ? directoryLogin.toLowerCase() : directoryLogin;
}
