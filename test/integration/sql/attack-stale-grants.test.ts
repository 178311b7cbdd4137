import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRolecallDb, uninstallSql, type RolecallDb } from '../../harness/rolecall-sql.js';

/*
 * Attack class 3: a role that was allow-listed and granted, then made powerful
 * or taken off the allow-list, stayed granted: "current roles" only counted
 * roles that still looked harmless. Rolecall's grants are the memberships whose
 * grantor is rolecall_owner, whatever the role has become.
 */
describe.each([15, 18] as const)('grants follow the allow-list as it is now, PostgreSQL %i', (version) => {
  let db: RolecallDb;

  beforeAll(async () => {
    db = await startRolecallDb(version);
    for (const r of ['sg_base', 'sg_file', 'sg_gone', 'sg_super', 'sg_exec', 'sg_login', 'sg_uninst']) {
      await db.admin.query(`CREATE ROLE ${r} NOLOGIN; SELECT rolecall.allow_group('grp-${r}', '${r}')`);
    }
  });
  afterAll(() => db?.close());

  const groups = (...roles: string[]) => roles.map((r) => `grp-${r}`);

  it('a granted role that later inherits pg_read_server_files is revoked at the next sync', async () => {
    await db.syncLogin('sg_alice', db.newPassword(), groups('sg_base', 'sg_file'));
    expect(await db.memberships('sg_alice')).toEqual(['sg_base', 'sg_file']);
    await db.admin.query('GRANT pg_read_server_files TO sg_file');
    const r = await db.syncLogin('sg_alice', db.newPassword(), groups('sg_base', 'sg_file'));
    expect(r).toMatchObject({ denied: false, revoked: ['sg_file'], roles: ['sg_base'], skipped: ['sg_file'] });
    expect(await db.memberships('sg_alice')).toEqual(['sg_base']);
  });

  it('a granted role taken off the allow-list by hand (not disallow_group) is revoked at the next sync', async () => {
    await db.syncLogin('sg_bea', db.newPassword(), groups('sg_base', 'sg_gone'));
    expect(await db.memberships('sg_bea')).toEqual(['sg_base', 'sg_gone']);
    await db.admin.query(`DELETE FROM rolecall.group_role WHERE role_name = 'sg_gone'`);
    const r = await db.syncLogin('sg_bea', db.newPassword(), groups('sg_base', 'sg_gone'));
    expect(r).toMatchObject({ revoked: ['sg_gone'], roles: ['sg_base'] });
    expect(await db.memberships('sg_bea')).toEqual(['sg_base']);
  });

  it('a granted role that can now log in is revoked at the next sync', async () => {
    await db.syncLogin('sg_cid', db.newPassword(), groups('sg_base', 'sg_login'));
    await db.admin.query('ALTER ROLE sg_login LOGIN');
    const r = await db.syncLogin('sg_cid', db.newPassword(), groups('sg_base', 'sg_login'));
    expect(r).toMatchObject({ revoked: ['sg_login'], roles: ['sg_base'] });
    expect(await db.memberships('sg_cid')).toEqual(['sg_base']);
    await db.admin.query('ALTER ROLE sg_login NOLOGIN');
  });

  it('a granted role that became a superuser (which the owner cannot revoke): the login is disabled, its sessions end', async () => {
    const password = db.newPassword();
    await db.syncLogin('sg_dan', password, groups('sg_base', 'sg_super'));
    const session = await db.server.connect({ user: 'sg_dan', password });
    session.on('error', () => undefined);
    await db.admin.query('ALTER ROLE sg_super SUPERUSER');
    try {
      const r = await db.syncLogin('sg_dan', db.newPassword(), groups('sg_base', 'sg_super'));
      expect(r).toMatchObject({ denied: true, roles: [] });
      expect(r.message).toMatch(/could not take back sg_super .* so the login was disabled/);
      const role = await db.admin.query(`SELECT rolcanlogin FROM pg_roles WHERE rolname = 'sg_dan'`);
      expect(role.rows[0].rolcanlogin).toBe(false);
      await expect(session.query('SELECT 1')).rejects.toThrow();
      expect(await db.canLogIn('sg_dan', password)).toBe(false);
      expect((await db.auditRows('sg_dan')).at(-1)).toMatchObject({ action: 'sync', outcome: 'disabled' });
    } finally {
      await session.end().catch(() => undefined);
      await db.admin.query('ALTER ROLE sg_super NOSUPERUSER');
    }
  });

  it('revoke_login takes back a granted role that now inherits pg_execute_server_program', async () => {
    await db.syncLogin('sg_eve', db.newPassword(), groups('sg_base', 'sg_exec'));
    await db.admin.query('GRANT pg_execute_server_program TO sg_exec');
    const r = await db.revokeLogin('sg_eve', 'left');
    expect(r).toMatchObject({ existed: true, revoked: ['sg_base', 'sg_exec'] });
    expect(await db.memberships('sg_eve')).toEqual([]);
  });

  it('uninstall takes back a granted role that now inherits pg_write_server_files', async () => {
    await db.syncLogin('sg_fay', db.newPassword(), groups('sg_uninst'));
    await db.admin.query('GRANT pg_write_server_files TO sg_uninst');
    // An admin's own grant of another role stays.
    await db.admin.query('CREATE ROLE sg_hand NOLOGIN; GRANT sg_hand TO sg_fay');
    await db.admin.query(uninstallSql);
    expect(await db.memberships('sg_fay')).toEqual(['sg_hand']);
  });
});
