import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { installSql, installV1Sql, startRolecallDb, verifierOf, type RolecallDb } from '../../harness/rolecall-sql.js';

/*
 * Re-running install.sql over version 1 repairs, without manual steps, what
 * version 1 let through: far VALID UNTIL dates, grants of roles that became
 * powerful or were never safe, and (PostgreSQL 16+) owner memberships leaked
 * by a caller's createrole_self_grant.
 */
describe.each([15, 18] as const)('upgrading from version 1, PostgreSQL %i', (version) => {
  let db: RolecallDb;
  const passwords: Record<string, string> = {};

  beforeAll(async () => {
    db = await startRolecallDb(version, { install: installV1Sql });
    await db.admin.query(`CREATE ROLE up_read NOLOGIN; CREATE ROLE up_file NOLOGIN; CREATE ROLE up_wad NOLOGIN; GRANT pg_write_all_data TO up_wad`);
    await db.admin.query(`SELECT rolecall.allow_group('up', 'up_read'), rolecall.allow_group('up-file', 'up_file'), rolecall.allow_group('up-wad', 'up_wad')`);
    for (const login of ['up_alice', 'up_bob', 'up_carl', 'up_dora']) passwords[login] = db.newPassword();

    // Version 1's flaws, used as a holder of the sync password would.
    await db.syncRaw({ login: 'up_alice', verifier: verifierOf(passwords.up_alice!), groups: ['up'], validFor: '100000 years -35999700 days' });
    await db.syncLogin('up_bob', passwords.up_bob!, ['up', 'up-file']);
    await db.admin.query('GRANT pg_read_server_files TO up_file');
    const s = await db.connectSync();
    if (version >= 16) await s.query(`SET createrole_self_grant = 'set, inherit'`);
    await db.syncLogin('up_carl', passwords.up_carl!, ['up'], s);
    await s.end();
    await db.syncLogin('up_dora', passwords.up_dora!, ['up-wad']);
  });
  afterAll(() => db?.close());

  it('version 1 left the damage this test repairs', async () => {
    const until = await db.admin.query(`SELECT extract(year FROM rolvaliduntil)::int AS y FROM pg_roles WHERE rolname = 'up_alice'`);
    expect(until.rows[0].y).toBeGreaterThan(3000);
    expect(await db.memberships('up_bob')).toEqual(['up_file', 'up_read']);
    expect(await db.memberships('up_dora')).toEqual(['up_wad']);
    if (version >= 16) {
      const leak = await db.admin.query(`SELECT pg_has_role('rolecall_owner', 'up_carl', 'USAGE') AS u`);
      expect(leak.rows[0].u).toBe(true);
    }
  });

  it('install.sql over it brings every login back within the rules and audits each repair', async () => {
    await db.admin.query(installSql);
    expect((await db.admin.query('SELECT rolecall.version() AS v')).rows[0].v).toBe('2');

    const until = await db.admin.query<{ v: Date }>(`SELECT rolvaliduntil AS v FROM pg_roles WHERE rolname = 'up_alice'`);
    expect(until.rows[0]!.v.getTime()).toBeLessThanOrEqual(Date.now() + 60_000);
    expect(await db.canLogIn('up_alice', passwords.up_alice!)).toBe(false);
    expect(await db.memberships('up_bob')).toEqual(['up_read']);
    expect(await db.memberships('up_dora')).toEqual([]);
    const owner = await db.admin.query(`SELECT pg_has_role('rolecall_owner', 'up_carl', 'USAGE') AS u`);
    expect(owner.rows[0].u).toBe(false);

    const repairs = await db.admin.query<{ login: string; revoked: string[]; message: string }>(
      `SELECT login, revoked, message FROM rolecall.audit WHERE action = 'repair' ORDER BY login`,
    );
    expect(repairs.rows.map((r) => r.login)).toEqual(version >= 16 ? ['up_alice', 'up_bob', 'up_carl', 'up_dora'] : ['up_alice', 'up_bob', 'up_dora']);
    expect(repairs.rows.find((r) => r.login === 'up_bob')!.revoked).toEqual(['up_file']);
    expect(repairs.rows.find((r) => r.login === 'up_alice')!.message).toMatch(/VALID UNTIL capped/);
  });

  it('a second run repairs nothing more, and every login signs in again at its next sync', async () => {
    await db.admin.query(installSql);
    const repairs = await db.admin.query(`SELECT count(*)::int AS n FROM rolecall.audit WHERE action = 'repair'`);
    expect(repairs.rows[0].n).toBe(version >= 16 ? 4 : 3);
    for (const login of ['up_alice', 'up_bob', 'up_carl']) {
      const password = db.newPassword();
      expect(await db.syncLogin(login, password, ['up'])).toMatchObject({ denied: false, roles: ['up_read'] });
      expect(await db.canLogIn(login, password)).toBe(true);
    }
  });
});
