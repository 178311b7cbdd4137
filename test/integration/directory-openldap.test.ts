import { PassThrough } from 'node:stream';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createDirectory, type DirectoryFailure } from '../../src-main/core/directory/index.js';
import { createLogger } from '../../src-main/core/log.js';
import { directorySchema, type DirectoryConfig } from '../../src-main/core/profiles/schema.js';
import { directoryRejection, directoryTracker } from '../harness/directories.js';
import { freePort } from '../harness/ports.js';
import { startSilentServer } from '../harness/silent-server.js';
import { startSlapd, type SlapdServer } from '../harness/slapd.js';

let slapd: SlapdServer;
const directories = directoryTracker();

function config(overrides: Partial<DirectoryConfig> = {}): DirectoryConfig {
  return directorySchema.parse({
    kind: 'openldap',
    url: slapd.url,
    bindDn: slapd.serviceDn,
    baseDn: slapd.baseDn,
    groupBaseDn: slapd.groupsDn,
    timeoutMs: 3000,
    ...overrides,
  });
}

function dir(overrides: Partial<DirectoryConfig> = {}, password?: string) {
  return directories.track(createDirectory(config(overrides), password ?? slapd.servicePassword));
}

async function failure(p: Promise<unknown>): Promise<DirectoryFailure> {
  return (await directoryRejection(p)).failure;
}

beforeAll(async () => {
  slapd = await startSlapd();
  const alice = await slapd.addUser('alice', 'alice-pw');
  const bob = await slapd.addUser('bob', 'bob-pw');
  await slapd.addUser('carol', 'carol-pw');
  // Two accounts sharing a login in different branches: only a sloppy search finds both.
  await slapd.addUser('twin', 'twin-pw');
  await slapd.addUser('twin', 'twin-pw', { ou: 'contractors' });
  // alice → pg-dev → pg-readers → pg-all → pg-readers (a cycle)
  await slapd.addGroup('pg-dev', [alice]);
  await slapd.addGroup('pg-readers', [slapd.groupDn('pg-dev')]);
  await slapd.addGroup('pg-all', [slapd.groupDn('pg-readers')]);
  await slapd.addMembers('pg-readers', [slapd.groupDn('pg-all')]);
  await slapd.addGroup('other', [bob]);
});

afterAll(async () => {
  await directories.closeAll();
  await slapd?.stop();
});

describe('OpenLDAP authentication', () => {
  it('authenticates and resolves nested groups through a cycle (member-nested)', async () => {
    const user = await dir().authenticate('alice', 'alice-pw');
    expect(user).toEqual({ login: 'alice', dn: slapd.userDn('alice'), groups: ['pg-all', 'pg-dev', 'pg-readers'] });
  });

  it('returns the stored login whatever case was typed', async () => {
    expect((await dir().authenticate('ALICE', 'alice-pw')).login).toBe('alice');
  });

  it('member strategy sees direct groups only', async () => {
    expect((await dir({ groupStrategy: 'member' }).authenticate('alice', 'alice-pw')).groups).toEqual(['pg-dev']);
  });

  it('memberOf strategy reads the overlay-maintained attribute', async () => {
    expect((await dir({ groupStrategy: 'memberOf' }).authenticate('alice', 'alice-pw')).groups).toEqual(['pg-dev']);
  });

  it('stops at maxNestingDepth', async () => {
    expect((await dir({ maxNestingDepth: 2 }).authenticate('alice', 'alice-pw')).groups).toEqual(['pg-dev', 'pg-readers']);
  });

  it('rejects a wrong password, an unknown user and an empty password alike', async () => {
    expect(await failure(dir().authenticate('alice', 'wrong'))).toBe('invalid-credentials');
    expect(await failure(dir().authenticate('nobody', 'alice-pw'))).toBe('invalid-credentials');
    expect(await failure(dir().authenticate('alice', ''))).toBe('invalid-credentials');
  });

  it('finds nobody for LDAP-injection logins', async () => {
    for (const login of ['*', 'a*', 'alice)(uid=*', '*)(|(uid=*', 'alice\\00', '\\00', 'alice\0']) {
      expect(await failure(dir().authenticate(login, 'alice-pw')), login).toBe('invalid-credentials');
      expect(await dir().lookup(login), login).toBeNull();
    }
  });

  it('refuses a login that matches two accounts', async () => {
    expect(await failure(dir().authenticate('twin', 'twin-pw'))).toBe('ambiguous');
    // Narrowed to one branch, the same login works.
    expect((await dir({ userBaseDn: slapd.peopleDn }).authenticate('twin', 'twin-pw')).dn).toBe(slapd.userDn('twin'));
  });

  it('reports a locked account, and lookup treats an administrator lock as gone', async () => {
    await slapd.lockUser('carol');
    try {
      expect(await failure(dir().authenticate('carol', 'carol-pw'))).toBe('account-locked');
      expect(await dir().lookup('carol')).toBeNull();
    } finally {
      await slapd.unlockUser('carol');
    }
    expect((await dir().authenticate('carol', 'carol-pw')).login).toBe('carol');
  });

  it('lookup follows membership changes without the user password', async () => {
    expect((await dir().lookup('bob'))?.groups).toEqual(['other']);
    await slapd.removeMembers('other', [slapd.userDn('bob')]);
    expect(await dir().lookup('bob')).toEqual({ login: 'bob', dn: slapd.userDn('bob'), groups: [] });
    expect(await dir().lookup('nobody')).toBeNull();
  });

  it('reports a wrong service password as misconfiguration, not as the user\'s fault', async () => {
    expect(await failure(dir({}, 'not-the-password').authenticate('alice', 'alice-pw'))).toBe('misconfigured');
  });

  it('test() describes a working connection', async () => {
    const r = await dir({ url: slapd.ldapsUrl, caFile: slapd.pki.caFile }).test();
    expect(r.details).toContain('LDAPS, certificate verified');
    expect(await failure(dir({ baseDn: 'dc=missing,dc=test' }).test())).toBe('misconfigured');
  });
});

describe('OpenLDAP transport', () => {
  it('works over ldaps:// with the test CA', async () => {
    expect((await dir({ url: slapd.ldapsUrl, caFile: slapd.pki.caFile }).authenticate('alice', 'alice-pw')).login).toBe('alice');
  });

  it('works with StartTLS and the test CA', async () => {
    expect((await dir({ startTls: true, caFile: slapd.pki.caFile }).authenticate('alice', 'alice-pw')).login).toBe('alice');
  });

  it('refuses a certificate signed by another CA, over ldaps:// and StartTLS', async () => {
    expect(await failure(dir({ url: slapd.ldapsUrl, caFile: slapd.pki.otherCaFile }).authenticate('alice', 'alice-pw'))).toBe('misconfigured');
    expect(await failure(dir({ startTls: true, caFile: slapd.pki.otherCaFile }).authenticate('alice', 'alice-pw'))).toBe('misconfigured');
  });

  it('accepts an untrusted certificate only with insecureSkipVerify', async () => {
    const user = await dir({ url: slapd.ldapsUrl, caFile: slapd.pki.otherCaFile, insecureSkipVerify: true }).authenticate('alice', 'alice-pw');
    expect(user.login).toBe('alice');
  });

  it('warns on every insecure connection and never logs a password', async () => {
    const out = new PassThrough();
    let text = '';
    out.on('data', (d: Buffer) => (text += d.toString()));
    const logger = createLogger({ level: 'debug', destination: out });
    const d = directories.track(createDirectory(config({ url: slapd.ldapsUrl, insecureSkipVerify: true }), slapd.servicePassword, logger));
    await d.authenticate('alice', 'alice-pw');
    await failure(d.authenticate('alice', 'wrong-secret-pw'));
    // One pooled service connection, then one connection per user bind: three, each warned about.
    expect(d.report().counters.connections).toBe(3);
    expect(text.match(/insecureSkipVerify/g)?.length).toBe(3);
    expect(text).toContain('"login":"alice"');
    for (const secret of ['alice-pw', 'wrong-secret-pw', slapd.servicePassword]) expect(text).not.toContain(secret);
  });

  it('reports a closed port as unreachable', async () => {
    const port = await freePort();
    expect(await failure(dir({ url: `ldap://127.0.0.1:${port}` }).authenticate('alice', 'alice-pw'))).toBe('unreachable');
  });

  it('reports a server that accepts but never answers as a timeout', async () => {
    const silent = await startSilentServer();
    const { port } = silent;
    try {
      const started = Date.now();
      expect(await failure(dir({ url: `ldap://127.0.0.1:${port}`, timeoutMs: 500 }).authenticate('alice', 'alice-pw'))).toBe('timeout');
      expect(Date.now() - started).toBeLessThan(3000);
      expect(await failure(dir({ url: `ldap://127.0.0.1:${port}`, timeoutMs: 500, startTls: true }).lookup('alice'))).toBe('timeout');
    } finally {
      await silent.close();
    }
  });
});
