import path from 'node:path';
import { rmSync } from 'node:fs';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import pg from 'pg';
import { profileSchema } from '../../src-main/core/profiles/schema.js';
import { MemorySecretStore } from '../../src-main/core/secrets/memory-store.js';
import { ProxyService } from '../../src-main/core/service.js';
import { startPostgres, type PgServer } from '../harness/postgres.js';
import { startSambaAd, type SambaServer } from '../harness/samba.js';
import { installRolecall } from '../harness/rolecall-env.js';
import { freePort, tempDir } from '../harness/ports.js';
import { run } from '../harness/run.js';

// The product's main case: a real Samba Active Directory DC over LDAPS, nested
// groups through the 1941 matching rule, logins typed the ways Windows users type them.
let ad: SambaServer;
let db: PgServer;
let service: ProxyService;
let port: number;
let dir: string;
const PASS = 'Alice-Pa55word!';

beforeAll(async () => {
  [ad, db] = await Promise.all([startSambaAd(), startPostgres({ version: 18 })]);
  const syncPassword = await installRolecall(db);
  await ad.createUser('alice', PASS, 'Alice', 'Analyst');
  await ad.createUser('dan', 'Dan-Pa55word!', 'Dan', 'Disabled');
  await ad.createUser('sam', 'Sam-Pa55word!', 'Sam', 'Staff');
  await ad.addGroup('heimdall-hr-data');
  await ad.addGroup('hr-analysts');
  await ad.addGroup('heimdall-readonly');
  await ad.addMembers('heimdall-hr-data', ['alice', 'dan']);
  await ad.addMembers('hr-analysts', ['alice']);
  await ad.addMembers('heimdall-readonly', ['hr-analysts']);
  await ad.disableUser('dan');
  // soon's password expires two days after it was set (a fine-grained password policy); alice's by the domain's 42 days.
  await ad.createUser('soon', 'Soon-Pa55word!', 'Soon', 'Expiring');
  await ad.addMembers('heimdall-hr-data', ['soon']);
  await ad.sambaTool(['domain', 'passwordsettings', 'pso', 'create', 'two-days', '1', '--max-pwd-age=2']);
  await ad.sambaTool(['domain', 'passwordsettings', 'pso', 'apply', 'two-days', 'soon']);
  dir = tempDir('ad-e2e');
  port = await freePort();
  const profile = profileSchema.parse({
    id: 'corp',
    name: 'Corp AD',
    directory: {
      kind: 'active-directory',
      url: ad.ldapsUrl,
      caFile: ad.pki.caFile,
      bindDn: ad.serviceLogin,
      baseDn: ad.baseDn,
      groupPrefix: 'heimdall-',
    },
    database: { host: '127.0.0.1', port: db.port, database: 'app', caFile: db.pki.caFile },
    listen: { port },
  });
  const secrets = new MemorySecretStore();
  await secrets.set('corp', 'ldap-bind', ad.servicePassword);
  await secrets.set('corp', 'sync', syncPassword);
  service = new ProxyService({ secrets, tlsDir: path.join(dir, 'tls') });
  await service.start(profile);
}, 180_000);

afterAll(async () => {
  await service?.stopAll(500);
  await Promise.all([ad?.stop(), db?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

async function login(user: string, password: string): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port, user, password, database: 'app' });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

function psql(user: string, password: string): Promise<{ code: number; stdout: string; stderr: string }> {
  return run('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', user, '-d', 'app', '-X', '-At', '-c', 'select current_user'], {
    env: { PATH: process.env.PATH ?? '', PGPASSWORD: password, PGCONNECT_TIMEOUT: '10' },
  });
}

describe('Active Directory (Samba AD DC) through the proxy', () => {
  it.each(['alice', 'ALICE', 'CORP\\alice', 'alice@corp.test'])('logs "%s" in as the canonical account alice with nested roles', async (typed) => {
    const c = await login(typed, PASS);
    const r = await c.query(`SELECT current_user, pg_has_role('heimdall-hr-data', 'member') AS direct, pg_has_role('heimdall-readonly', 'member') AS nested`);
    expect(r.rows[0]).toEqual({ current_user: 'alice', direct: true, nested: true });
    await c.end();
  });

  it('denies a disabled AD account with 28000 once the password is right, and 28P01 when it is not', async () => {
    await expect(login('dan', 'Dan-Pa55word!')).rejects.toMatchObject({ code: '28000' });
    await expect(login('dan', 'nope')).rejects.toMatchObject({ code: '28P01' });
  });

  it('denies a user in no permitted group with 28000', async () => {
    await expect(login('sam', 'Sam-Pa55word!')).rejects.toMatchObject({ code: '28000', message: expect.stringMatching(/not in any directory group/) });
  });
});

describe('password expiry (msDS-UserPasswordExpiryTimeComputed)', () => {
  it('psql prints "expires in 2 days" with the hint for a password under a two-day policy, and signs in', async () => {
    const r = await psql('soon', 'Soon-Pa55word!');
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('soon');
    expect(r.stderr).toMatch(/^WARNING: {2}your directory password expires in 2 days\nHINT: {2}Change it before .* UTC \(on Windows: Ctrl\+Alt\+Del → Change a password\), then connect with the new one\.\n$/);
    // The next connection comes from the cache, and warns all the same.
    expect((await psql('soon', 'Soon-Pa55word!')).stderr).toMatch(/^WARNING: {2}your directory password expires in 2 days\n/);
    expect(service.get('corp')!.status().passwordWarnings.map((w) => [w.login, w.daysLeft])).toEqual([['soon', 2]]);
  });

  it('nothing when the expiry is weeks away (the domain\'s own policy)', async () => {
    const r = await psql('alice', PASS);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stderr).toBe('');
  });
});
