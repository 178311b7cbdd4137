import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failureOf, startRolecallDb, verifierOf, type RolecallDb } from '../../harness/rolecall-sql.js';

/*
 * Attack class 6: settings of the caller's session leaking into the SECURITY
 * DEFINER functions. Every setting they depend on is pinned on the function,
 * and those that cannot be pinned for the running statement are checked.
 */
describe.each([15, 18] as const)('the caller\'s session settings do not reach the functions, PostgreSQL %i', (version) => {
  let db: RolecallDb;

  beforeAll(async () => {
    db = await startRolecallDb(version);
    await db.admin.query(`CREATE ROLE ss_read NOLOGIN; SELECT rolecall.allow_group('ss', 'ss_read')`);
  });
  afterAll(() => db?.close());

  const withSession = async <T>(setup: string, run: (c: import('pg').Client) => Promise<T>): Promise<T> => {
    const c = await db.connectSync();
    try {
      await c.query(setup);
      return await run(c);
    } finally {
      await c.end();
    }
  };

  it.skipIf(version < 16)('createrole_self_grant = \'set, inherit\' does not make the owner a member of the new login', async () => {
    const r = await withSession(`SET createrole_self_grant = 'set, inherit'`, (c) =>
      db.syncRaw({ login: 'ss_self', verifier: verifierOf(db.newPassword()), groups: ['ss'] }, c),
    );
    expect(r).toMatchObject({ created: true });
    const rows = await db.admin.query(
      `SELECT admin_option, inherit_option, set_option FROM pg_auth_members
       WHERE roleid = 'ss_self'::regrole AND member = 'rolecall_owner'::regrole`,
    );
    expect(rows.rows).toEqual([{ admin_option: true, inherit_option: false, set_option: false }]);
    const owns = await db.admin.query(`SELECT pg_has_role('rolecall_owner', 'ss_self', 'USAGE') AS u, pg_has_role('rolecall_owner', 'ss_self', 'SET') AS s`);
    expect(owns.rows[0]).toEqual({ u: false, s: false });
  });

  it.each([
    ['default_transaction_isolation = repeatable read', `SET default_transaction_isolation = 'repeatable read'`, '25000'],
    ['default_transaction_isolation = serializable', `SET default_transaction_isolation = 'serializable'`, '25000'],
  ])('%s: the call is refused before anything runs, and changes nothing', async (_what, setup, sqlstate) => {
    const before = await db.stateOf('ss_refused');
    const f = await withSession(setup, (c) =>
      failureOf(db.syncRaw({ login: 'ss_refused', verifier: verifierOf(db.newPassword()), groups: ['ss'] }, c)),
    );
    expect(f.code).toBe(sqlstate);
    expect(await db.stateOf('ss_refused')).toBe(before);
  });

  it('statement and idle-in-transaction timeouts turned off by the caller are bounded again for the rest of its transaction', async () => {
    const after = await withSession(
      `SET statement_timeout = 0; SET idle_in_transaction_session_timeout = 0; BEGIN`,
      async (c) => {
        await db.syncRaw({ login: 'ss_unbounded', verifier: verifierOf(db.newPassword()), groups: ['ss'] }, c);
        const res = await c.query(`SELECT current_setting('statement_timeout') AS s, current_setting('idle_in_transaction_session_timeout') AS i`);
        await c.query('COMMIT');
        return res.rows[0];
      },
    );
    expect(after).toEqual({ s: '30s', i: '1min' });
  });

  it('install.sql gives rolecall_sync bounded timeouts and READ COMMITTED; RESET brings them back', async () => {
    const r = await withSession('SET statement_timeout = 0; RESET statement_timeout', async (c) => {
      await db.syncRaw({ login: 'ss_reset', verifier: verifierOf(db.newPassword()), groups: ['ss'] }, c);
      return (await c.query(`SELECT current_setting('statement_timeout') AS s`)).rows[0];
    });
    expect(r).toEqual({ s: '30s' });
    const defaults = await db.admin.query<{ s: string[] }>(
      `SELECT setconfig AS s FROM pg_db_role_setting WHERE setrole = 'rolecall_sync'::regrole AND setdatabase = 0`,
    );
    expect(defaults.rows[0]!.s).toEqual(
      expect.arrayContaining(['statement_timeout=30s', 'lock_timeout=5s', 'idle_in_transaction_session_timeout=60s', 'default_transaction_isolation=read committed']),
    );
  });

  it('every SECURITY DEFINER function pins its search_path, lock_timeout and the settings above', async () => {
    const res = await db.admin.query<{ f: string; c: string[] }>(
      `SELECT p.oid::regprocedure::text AS f, p.proconfig AS c FROM pg_proc p
       WHERE p.pronamespace = 'rolecall'::regnamespace AND p.prosecdef ORDER BY 1`,
    );
    expect(res.rows.length).toBeGreaterThanOrEqual(7);
    for (const { f, c } of res.rows) {
      const pinned = ['search_path=pg_catalog, pg_temp', 'lock_timeout=5s', 'password_encryption=scram-sha-256', 'TimeZone=UTC'];
      if (version >= 16) pinned.push('createrole_self_grant=');
      expect({ f, c }).toEqual({ f, c: expect.arrayContaining(pinned) });
    }
  });
});
