import { describe, expect, it } from 'vitest';
import { parseLogin, userSearchFilter } from '../../src-main/core/directory/index.js';
import { ambiguityError } from '../../src-main/core/directory/find-user.js';
import { directorySchema } from '../../src-main/core/profiles/schema.js';

const ad = directorySchema.parse({ kind: 'active-directory', url: 'ldaps://dc.corp.test', bindDn: 'svc@corp.test', baseDn: 'DC=corp,DC=test' });
const ldap = directorySchema.parse({ kind: 'openldap', url: 'ldap://ldap.example.test', bindDn: 'cn=svc,dc=example,dc=test', baseDn: 'dc=example,dc=test' });

const sam = (value: string) => ({ attribute: 'sAMAccountName', value });
const upn = (value: string) => ({ attribute: 'userPrincipalName', value });

describe('parseLogin', () => {
  it('searches sAMAccountName for plain and DOMAIN\\ logins on AD, keeping the case typed', () => {
    expect(parseLogin('alice', ad)).toEqual({ kind: 'search', terms: [sam('alice')], name: 'alice' });
    expect(parseLogin('ALICE', ad)).toEqual({ kind: 'search', terms: [sam('ALICE')], name: 'ALICE' });
    expect(parseLogin('CORP\\alice', ad)).toEqual({ kind: 'search', terms: [sam('alice')], name: 'alice' });
    expect(parseLogin('corp\\Alice', ad)).toEqual({ kind: 'search', terms: [sam('Alice')], name: 'Alice' });
  });

  it('user@domain searches userPrincipalName, and the account name when the suffix is the domain itself', () => {
    expect(parseLogin('Alice@Corp.Test', ad)).toEqual({ kind: 'search', terms: [upn('Alice@Corp.Test'), sam('Alice')], name: 'Alice' });
    // Some other suffix: only an account whose UPN it is.
    expect(parseLogin('alice@example.com', ad)).toEqual({ kind: 'search', terms: [upn('alice@example.com')], name: 'alice' });
  });

  it('upnSuffixes and the discovery domain also mean "the account name"', () => {
    const withSuffixes = { ...ad, upnSuffixes: ['example.com'] };
    expect(parseLogin('alice@EXAMPLE.com', withSuffixes)).toEqual({ kind: 'search', terms: [upn('alice@EXAMPLE.com'), sam('alice')], name: 'alice' });
    const discovered = { ...ad, domain: 'ad.example.org', baseDn: 'OU=Staff,DC=ad,DC=example,DC=org' };
    expect(parseLogin('bob@ad.example.org', discovered)).toMatchObject({ terms: [upn('bob@ad.example.org'), sam('bob')] });
  });

  it('netbiosDomains accepts only the listed domains, any case, and names the others', () => {
    const listed = { ...ad, netbiosDomains: ['CORP', 'EMEA'] };
    expect(parseLogin('emea\\alice', listed)).toEqual({ kind: 'search', terms: [sam('alice')], name: 'alice' });
    expect(parseLogin('OTHER\\alice', listed)).toEqual({ kind: 'foreign-domain', domain: 'OTHER' });
    // Without a list any prefix is accepted: the bind proves who it is.
    expect(parseLogin('OTHER\\alice', ad).kind).toBe('search');
  });

  it('keeps @ literal when the AD login attribute is not sAMAccountName', () => {
    expect(parseLogin('alice@corp.test', { ...ad, loginAttribute: 'mail' })).toEqual({ kind: 'search', terms: [{ attribute: 'mail', value: 'alice@corp.test' }], name: 'alice@corp.test' });
  });

  it('takes the login as typed on OpenLDAP', () => {
    expect(parseLogin('alice', ldap)).toEqual({ kind: 'search', terms: [{ attribute: 'uid', value: 'alice' }], name: 'alice' });
    expect(parseLogin('CORP\\alice', ldap)).toEqual({ kind: 'search', terms: [{ attribute: 'uid', value: 'CORP\\alice' }], name: 'CORP\\alice' });
  });

  it('refuses empty, domain-only, suffix-only and absurdly long logins', () => {
    for (const typed of ['', 'CORP\\', '\\alice', '\\00', '@corp.test', 'alice@', 'a'.repeat(257)]) expect(parseLogin(typed, ad), typed).toEqual({ kind: 'unusable' });
    expect(parseLogin('', ldap)).toEqual({ kind: 'unusable' });
  });
});

describe('userSearchFilter', () => {
  it('escapes the value and narrows AD searches to people', () => {
    expect(userSearchFilter([sam('a*)(x=*')], ad)).toBe('(&(sAMAccountName=a\\2a\\29\\28x=\\2a)(objectCategory=person)(objectClass=user))');
  });

  it('ORs several terms, each escaped', () => {
    expect(userSearchFilter([upn('*@corp.test'), sam('*')], ad)).toBe(
      '(&(|(userPrincipalName=\\2a@corp.test)(sAMAccountName=\\2a))(objectCategory=person)(objectClass=user))',
    );
  });

  it('uses the profile filter when given', () => {
    expect(userSearchFilter([{ attribute: 'uid', value: 'bob' }], { ...ldap, userFilter: '(objectClass=posixAccount)' })).toBe('(&(uid=bob)(objectClass=posixAccount))');
    expect(userSearchFilter([{ attribute: 'uid', value: 'bob' }], ldap)).toBe('(&(uid=bob))');
  });
});

describe('ambiguityError', () => {
  it('names the domains when the same account name lives in two of them', () => {
    const e = ambiguityError('alice', ['CN=Alice,CN=Users,DC=corp,DC=example', 'CN=Alice B,OU=Staff,DC=emea,DC=corp,DC=example']);
    expect(e.failure).toBe('ambiguous');
    expect(e.message).toBe(
      'the login "alice" names accounts in 2 domains (corp.example, emea.corp.example); Rolecall gives every account one database login and refuses rather than guess: ask an administrator to rename one of them',
    );
  });

  it('points at the user filter when both accounts are in one domain', () => {
    expect(ambiguityError('twin', ['uid=twin,ou=people,dc=example,dc=test', 'uid=twin,ou=contractors,dc=example,dc=test']).message).toBe(
      'the login "twin" matches 2 directory accounts; ask an administrator to fix the user filter',
    );
  });
});
