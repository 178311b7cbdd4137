import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDirectory } from '../../src-main/core/directory/index.js';
import { directorySchema, type DirectoryConfig } from '../../src-main/core/profiles/schema.js';
import { directoryRejection as rejection, directoryTracker } from '../harness/directories.js';
import { startSambaAd, type SambaServer } from '../harness/samba.js';

let ad: SambaServer;
const directories = directoryTracker();

function dir(overrides: Partial<DirectoryConfig> = {}) {
  const config = directorySchema.parse({
    kind: 'active-directory',
    url: ad.ldapsUrl,
    caFile: ad.pki.caFile,
    bindDn: ad.serviceLogin,
    baseDn: ad.baseDn,
    timeoutMs: 5000,
    ...overrides,
  });
  return directories.track(createDirectory(config, ad.servicePassword));
}

beforeAll(async () => {
  ad = await startSambaAd();
  await ad.createUser('alice', 'Alice-Pass-1', 'Alice', 'Test');
  await ad.createUser('bob', 'Bob-Pass-1', 'Bob', 'Test');
  // Parentheses and a star in the CN: the DN must be escaped inside the group filter.
  await ad.createUser('dan', 'Dan-Pass-1', 'Dan (Jr*)', 'Test');
  await ad.addGroup('pg-developers');
  await ad.addGroup('pg-readers');
  await ad.addGroup('unrelated');
  await ad.addMembers('pg-developers', ['alice', 'dan']);
  await ad.addMembers('pg-readers', ['pg-developers']);
  await ad.addMembers('unrelated', ['bob']);
  await ad.disableUser('bob');
});

afterAll(async () => {
  await directories.closeAll();
  await ad?.stop();
});

describe('Active Directory (Samba) authentication', () => {
  it('finds alice by sAMAccountName, UPN and DOMAIN\\ forms, any case, with nested groups', async () => {
    for (const typed of ['alice', 'ALICE', 'alice@corp.test', 'Alice@CORP.TEST', 'CORP\\alice', 'corp\\Alice']) {
      const user = await dir().authenticate(typed, 'Alice-Pass-1');
      expect(user, typed).toEqual({
        login: 'alice',
        dn: 'CN=Alice Test,CN=Users,DC=corp,DC=test',
        groups: ['pg-developers', 'pg-readers'],
        // The domain's default maximum password age (42 days) applies.
        passwordExpiresAt: expect.any(Date),
      });
    }
  });

  it('resolves groups for a user whose DN needs escaping', async () => {
    const user = await dir().authenticate('dan', 'Dan-Pass-1');
    expect(user.dn).toBe('CN=Dan (Jr*) Test,CN=Users,DC=corp,DC=test');
    expect(user.groups).toEqual(['pg-developers', 'pg-readers']);
  });

  it('memberOf strategy lists only direct groups', async () => {
    expect((await dir({ groupStrategy: 'memberOf' }).authenticate('alice', 'Alice-Pass-1')).groups).toEqual(['pg-developers']);
  });

  it('wrong password is 52e, invalid credentials', async () => {
    const e = await rejection(dir().authenticate('alice', 'Wrong-Pass-1'));
    expect([e.failure, e.adCode]).toEqual(['invalid-credentials', '52e']);
  });

  it('unknown users and injection attempts get the same answer as a wrong password', async () => {
    for (const login of ['nobody', '*', 'alice)(sAMAccountName=*', '*@corp.test', 'CORP\\*', '\\00']) {
      const e = await rejection(dir().authenticate(login, 'Alice-Pass-1'));
      expect(e.failure, login).toBe('invalid-credentials');
      expect(e.message).toBe('invalid user name or password');
    }
  });

  it('disabled account: 533 with the right password, plain invalid credentials with a wrong one', async () => {
    const right = await rejection(dir().authenticate('bob', 'Bob-Pass-1'));
    expect([right.failure, right.adCode]).toEqual(['account-disabled', '533']);
    const wrong = await rejection(dir().authenticate('bob', 'Not-Bobs-1'));
    expect(wrong.failure).toBe('invalid-credentials');
    expect(await dir().lookup('bob')).toBeNull();
  });

  it('lookup() follows group removal without the user password', async () => {
    await ad.createUser('erin', 'Erin-Pass-1', 'Erin', 'Test');
    await ad.addMembers('pg-developers', ['erin']);
    expect((await dir().lookup('CORP\\erin'))?.groups).toEqual(['pg-developers', 'pg-readers']);
    await ad.removeMembers('pg-developers', ['erin']);
    expect(await dir().lookup('erin')).toEqual({ login: 'erin', dn: 'CN=Erin Test,CN=Users,DC=corp,DC=test', groups: [], passwordExpiresAt: expect.any(Date) });
    expect(await dir().lookup('nobody')).toBeNull();
  });
});

describe('Active Directory (Samba) transport', () => {
  it('LDAPS with the test CA works, and test() says so', async () => {
    expect((await dir().test()).details).toContain('LDAPS, certificate verified');
  });

  it('StartTLS with the test CA works', async () => {
    expect((await dir({ url: ad.url, startTls: true }).authenticate('alice', 'Alice-Pass-1')).login).toBe('alice');
  });

  it('another CA is refused', async () => {
    expect((await rejection(dir({ caFile: ad.pki.otherCaFile }).authenticate('alice', 'Alice-Pass-1'))).failure).toBe('misconfigured');
  });

  it('plain ldap:// simple binds are refused by the DC and reported as a configuration problem', async () => {
    const e = await rejection(dir({ url: ad.url, caFile: undefined }).test());
    expect(e.failure).toBe('misconfigured');
    expect(e.message).toMatch(/ldaps:\/\/ or StartTLS/);
  });
});
