import { describe, expect, it } from 'vitest';
import { adSubCodeFailure, parseAdSubCode, permittedGroups } from '../../src-main/core/directory/index.js';

describe('permittedGroups', () => {
  const groups = ['pg-readers', 'PG-Admins', 'pg-developers', 'finance', 'pg-readers', 'xpg-evil'];

  it('keeps groups with the prefix (any case), sorted and without duplicates', () => {
    expect(permittedGroups(groups, { groupPrefix: 'pg-' })).toEqual(['PG-Admins', 'pg-developers', 'pg-readers']);
  });

  it('also applies the pattern when set', () => {
    expect(permittedGroups(groups, { groupPrefix: 'pg-', groupPattern: '^pg-(readers|developers)$' })).toEqual(['pg-developers', 'pg-readers']);
  });

  it('an empty prefix keeps everything, and nothing matching means an empty list', () => {
    expect(permittedGroups(['b', 'a'], { groupPrefix: '' })).toEqual(['a', 'b']);
    expect(permittedGroups(groups, { groupPrefix: 'db-' })).toEqual([]);
  });
});

describe('AD bind sub-codes', () => {
  const message = (code: string): string =>
    `80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, data ${code}, v4563\u0000`;

  it('parses the code from the diagnostic message', () => {
    expect(parseAdSubCode(message('52e'))).toBe('52e');
    expect(parseAdSubCode(message('775'))).toBe('775');
    expect(parseAdSubCode('80090308: LdapErr: DSID-0C09041C, comment: AcceptSecurityContext error, DATA 52E, v4563')).toBe('52e');
    expect(parseAdSubCode('Invalid credentials')).toBeUndefined();
  });

  it('maps each code to what the user is told', () => {
    const expected: Record<string, string> = {
      '52e': 'invalid-credentials',
      '525': 'invalid-credentials',
      '530': 'logon-not-permitted',
      '531': 'logon-not-permitted',
      '532': 'password-expired',
      '533': 'account-disabled',
      '701': 'account-expired',
      '773': 'password-must-change',
      '775': 'account-locked',
    };
    for (const [code, failure] of Object.entries(expected)) {
      expect(adSubCodeFailure(parseAdSubCode(message(code))).failure, code).toBe(failure);
    }
  });

  it('treats unknown or missing codes as invalid credentials', () => {
    expect(adSubCodeFailure('568').failure).toBe('invalid-credentials');
    expect(adSubCodeFailure(undefined).failure).toBe('invalid-credentials');
  });
});
