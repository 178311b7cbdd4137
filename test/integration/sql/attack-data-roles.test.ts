import { readFileSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failureOf, startRolecallDb, verifierOf, type RolecallDb } from '../../harness/rolecall-sql.js';

/*
 * Attack class 5: roles that bypass table grants. pg_write_all_data could
 * rewrite the registry (take over any login) and the allow-list;
 * pg_read_all_data could read the audit. Rolecall hands out only plain NOLOGIN
 * roles, and its tables have row-level security, which those roles do not bypass.
 */
describe.each([15, 18] as const)('data roles cannot reach or rewrite Rolecall, PostgreSQL %i', (version) => {
  let db: RolecallDb;
  let etl: pg.Client;
  let predefined: string[];

  beforeAll(async () => {
    db = await startRolecallDb(version);
    const res = await db.admin.query<{ n: string }>(
      `SELECT rolname AS n FROM pg_roles WHERE oid < 16384 AND rolname LIKE 'pg\\_%' AND rolname <> 'pg_database_owner' ORDER BY 1`,
    );
    predefined = res.rows.map((r) => r.n);
    const etlPassword = db.newPassword();
    await db.admin.query(`CREATE ROLE dr_etl LOGIN PASSWORD '${verifierOf(etlPassword)}'; GRANT pg_write_all_data, pg_read_all_data TO dr_etl`);
    await db.admin.query(`CREATE ROLE dr_read NOLOGIN; SELECT rolecall.allow_group('dr', 'dr_read')`);
    await db.syncLogin('dr_alice', db.newPassword(), ['dr']);
    etl = await db.server.connect({ user: 'dr_etl', password: etlPassword });
  });
  afterAll(async () => {
    await etl?.end();
    await db?.close();
  });

  it('allow_group refuses every predefined role, whether held directly or through another role', async () => {
    expect(predefined).toEqual(expect.arrayContaining(['pg_read_all_data', 'pg_write_all_data', 'pg_read_server_files', 'pg_signal_backend', 'pg_checkpoint']));
    for (const p of predefined) {
      const direct = `dr_has_${p}`;
      const nested = `dr_via_${p}`;
      await db.admin.query(`CREATE ROLE ${direct} NOLOGIN; GRANT ${p} TO ${direct}; CREATE ROLE ${nested} NOLOGIN; GRANT ${direct} TO ${nested}`);
      for (const role of [p, direct, nested]) {
        const f = await failureOf(db.admin.query('SELECT rolecall.allow_group($1, $2)', ['g', role]));
        expect({ role, code: f.code }).toEqual({ role, code: '42501' });
      }
    }
    const mapped = await db.admin.query(`SELECT count(*)::int AS n FROM rolecall.group_role WHERE group_name = 'g'`);
    expect(mapped.rows[0].n).toBe(0);
  });

  it('allow_group refuses a role that can log in, and a role that is a member of one', async () => {
    await db.admin.query('CREATE ROLE dr_loginrole LOGIN; CREATE ROLE dr_under_login NOLOGIN; GRANT dr_loginrole TO dr_under_login');
    expect((await failureOf(db.admin.query(`SELECT rolecall.allow_group('g', 'dr_loginrole')`))).message).toMatch(/can log in/);
    expect((await failureOf(db.admin.query(`SELECT rolecall.allow_group('g', 'dr_under_login')`))).message).toMatch(/member of "dr_loginrole"/);
  });

  it('an allow-list entry slipped in by hand for such a role is skipped at sync time, even with ADMIN OPTION given by hand', async () => {
    await db.admin.query(`CREATE ROLE dr_wrapper NOLOGIN; GRANT pg_write_all_data TO dr_wrapper`);
    if (version >= 16) await db.admin.query('GRANT dr_wrapper TO rolecall_owner WITH ADMIN TRUE, INHERIT FALSE, SET FALSE');
    await db.admin.query(`INSERT INTO rolecall.group_role (group_name, role_name) VALUES ('dr', 'dr_wrapper')`);
    const r = await db.syncLogin('dr_bob', db.newPassword(), ['dr']);
    expect(r).toMatchObject({ roles: ['dr_read'], skipped: ['dr_wrapper'] });
    expect(await db.memberships('dr_bob')).toEqual(['dr_read']);
    await db.admin.query(`DELETE FROM rolecall.group_role WHERE role_name = 'dr_wrapper'`);
  });

  it('pg_read_all_data sees no row of the registry, the allow-list, the audit or the settings', async () => {
    for (const table of ['managed_login', 'group_role', 'audit', 'setting', 'login_lock']) {
      const res = await etl.query(`SELECT count(*)::int AS n FROM rolecall.${table}`);
      expect({ table, n: res.rows[0].n }).toEqual({ table, n: 0 });
    }
  });

  it('pg_write_all_data cannot register an admin-made login nor map a group, and changes no row', async () => {
    await db.admin.query(`CREATE ROLE dr_dba LOGIN PASSWORD '${verifierOf(db.newPassword())}'`);
    const before = await db.admin.query(
      `SELECT (SELECT count(*) FROM rolecall.managed_login) AS m, (SELECT count(*) FROM rolecall.group_role) AS g, (SELECT count(*) FROM rolecall.audit) AS a`,
    );
    const attempts = [
      `INSERT INTO rolecall.managed_login (login, role_oid) SELECT 'dr_dba', oid FROM pg_roles WHERE rolname = 'dr_dba'`,
      `INSERT INTO rolecall.group_role (group_name, role_name) VALUES ('dr', 'dr_dba')`,
      `INSERT INTO rolecall.setting (name, value) VALUES ('min_scram_iterations', '1')`,
    ];
    for (const sql of attempts) expect({ sql, code: (await failureOf(etl.query(sql))).code }).toEqual({ sql, code: '42501' });
    expect((await etl.query(`UPDATE rolecall.managed_login SET role_oid = 0`)).rowCount).toBe(0);
    expect((await etl.query(`DELETE FROM rolecall.audit`)).rowCount).toBe(0);
    const after = await db.admin.query(
      `SELECT (SELECT count(*) FROM rolecall.managed_login) AS m, (SELECT count(*) FROM rolecall.group_role) AS g, (SELECT count(*) FROM rolecall.audit) AS a`,
    );
    expect(after.rows).toEqual(before.rows);
    const r = await db.syncLogin('dr_dba', db.newPassword(), ['dr']);
    expect(r.refused).toMatch(/exists and was not created by Rolecall/);
  });

  it('the READMEs never suggest granting pg_read_all_data (or any predefined data role) to a group role', () => {
    for (const file of ['README.md', 'sql/postgres/README.md']) {
      const text = readFileSync(path.resolve(import.meta.dirname, '../../..', file), 'utf8');
      expect({ file, grants: text.match(/GRANT\s+pg_(read|write)_all_data\s+TO/gi) }).toEqual({ file, grants: null });
    }
  });
});
