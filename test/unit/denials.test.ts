import { describe, expect, it } from 'vitest';
import { directoryDenial } from '../../src-main/core/auth/denials.js';
import { DirectoryError } from '../../src-main/core/directory/errors.js';
import { ambiguityError } from '../../src-main/core/directory/find-user.js';

// What a client is told for directory refusals whose words depend on why:
// the real directories raise these in directory-*.test.ts.

describe('directoryDenial', () => {
  it('a refused NetBIOS domain: the directory\'s own words (they name the forms that work), 28000, with a hint', () => {
    const e = new DirectoryError('domain-not-accepted', 'the domain "EVIL" is not one this profile accepts: sign in as CORP\\name, or name@domain');
    expect(directoryDenial('EVIL\\alice', e)).toMatchObject({
      sqlstate: '28000',
      message: 'the domain "EVIL" is not one this profile accepts: sign in as CORP\\name, or name@domain',
      hint: expect.stringContaining('directory.netbiosDomains'),
    });
  });

  it('an AD account not permitted to log on now keeps the general words', () => {
    const e = new DirectoryError('logon-not-permitted', 'logon not permitted at this time: contact your directory administrator', { adCode: '530' });
    expect(directoryDenial('alice', e)).toMatchObject({ sqlstate: '28000', message: 'your directory account may not sign in' });
  });

  it('the same name in two domains of the forest: no other way of typing it helps, and the hint says so', () => {
    const across = directoryDenial('alice', ambiguityError('alice', ['CN=Alice,CN=Users,DC=corp,DC=example', 'CN=Alice,CN=Users,DC=emea,DC=corp,DC=example']));
    expect(across).toMatchObject({ sqlstate: '28000', message: 'more than one directory account matches this login name' });
    expect(across.hint).toMatch(/more than one domain of the forest.*No other way of typing the name helps: ask your directory administrator to rename one of them/);
    // Never the other accounts' domains: nothing is known yet about the password.
    expect(`${across.message} ${across.hint}`).not.toContain('emea');
    const within = directoryDenial('twin', ambiguityError('twin', ['uid=twin,ou=people,dc=example,dc=test', 'uid=twin,ou=contractors,dc=example,dc=test']));
    expect(within.hint).toBe('Ask your directory administrator; use your full account name (user@domain) meanwhile.');
  });
});
