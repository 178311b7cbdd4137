import { describe, expect, it } from 'vitest';
import { loginSearchValue, userSearchFilter } from '../../src-main/core/directory/index.js';
import { directorySchema } from '../../src-main/core/profiles/schema.js';

const ad = directorySchema.parse({ kind: 'active-directory', url: 'ldaps://dc.corp.test', bindDn: 'svc@corp.test', baseDn: 'DC=corp,DC=test' });
const ldap = directorySchema.parse({ kind: 'openldap', url: 'ldap://ldap.example.test', bindDn: 'cn=svc,dc=example,dc=test', baseDn: 'dc=example,dc=test' });

describe('loginSearchValue', () => {
  it('searches sAMAccountName for plain and DOMAIN\\ logins on AD, keeping the case typed', () => {
    expect(loginSearchValue('alice', ad)).toEqual({ attribute: 'sAMAccountName', value: 'alice' });
    expect(loginSearchValue('ALICE', ad)).toEqual({ attribute: 'sAMAccountName', value: 'ALICE' });
    expect(loginSearchValue('CORP\\alice', ad)).toEqual({ attribute: 'sAMAccountName', value: 'alice' });
    expect(loginSearchValue('corp\\Alice', ad)).toEqual({ attribute: 'sAMAccountName', value: 'Alice' });
  });

  it('searches userPrincipalName for user@domain on AD', () => {
    expect(loginSearchValue('Alice@Corp.Test', ad)).toEqual({ attribute: 'userPrincipalName', value: 'Alice@Corp.Test' });
  });

  it('keeps @ literal when the AD login attribute is not sAMAccountName', () => {
    expect(loginSearchValue('alice@corp.test', { ...ad, loginAttribute: 'mail' })).toEqual({ attribute: 'mail', value: 'alice@corp.test' });
  });

  it('takes the login as typed on OpenLDAP', () => {
    expect(loginSearchValue('alice', ldap)).toEqual({ attribute: 'uid', value: 'alice' });
    expect(loginSearchValue('CORP\\alice', ldap)).toEqual({ attribute: 'uid', value: 'CORP\\alice' });
  });

  it('refuses empty, domain-only and absurdly long logins', () => {
    for (const typed of ['', 'CORP\\', '\\alice', '\\00', 'a'.repeat(257)]) expect(loginSearchValue(typed, ad), typed).toBeNull();
    expect(loginSearchValue('', ldap)).toBeNull();
  });
});

describe('userSearchFilter', () => {
  it('escapes the value and narrows AD searches to people', () => {
    const search = loginSearchValue('a*)(x=*', ad);
    expect(search).not.toBeNull();
    expect(userSearchFilter(search!, ad)).toBe('(&(sAMAccountName=a\\2a\\29\\28x=\\2a)(objectCategory=person)(objectClass=user))');
  });

  it('uses the profile filter when given', () => {
    expect(userSearchFilter({ attribute: 'uid', value: 'bob' }, { ...ldap, userFilter: '(objectClass=posixAccount)' })).toBe(
      '(&(uid=bob)(objectClass=posixAccount))',
    );
    expect(userSearchFilter({ attribute: 'uid', value: 'bob' }, ldap)).toBe('(&(uid=bob))');
  });
});
