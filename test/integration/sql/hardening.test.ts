import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failureOf, startRolecallDb, verifierOf, type RolecallDb } from '../../harness/rolecall-sql.js';

/*
 * The hardening beyond the six attack classes: a lock space no other login can
 * take, refusals recorded where a rollback cannot erase them, bounded audit
 * rows, look-alike login names, verifier strength, self-set passwords, and on
 * PostgreSQL 15 the owner's power to grant predefined roles.
 */
describe.each([15, 18] as const)('hardening, PostgreSQL %i', (version) => {
  let db: RolecallDb;

  beforeAll(async () => {
    db = await startRolecallDb(version);
    await db.admin.query(`CREATE ROLE hd_read NOLOGIN; SELECT rolecall.allow_group('hd', 'hd_read')`);
  });
  afterAll(() => db?.close());

  it('another login holding the old advisory lock key of a login does not block its sync', async () => {
    const password = db.newPassword();
    await db.syncLogin('hd_mallory', password, ['hd']);
    const mallory = await db.server.connect({ user: 'hd_mallory', password });
    try {
      await mallory.query(`SELECT pg_advisory_lock(hashtextextended('rolecall.login:hd_victim', 0))`);
      const s = await db.connectSync();
      try {
        await s.query(`SET statement_timeout = '3s'`);
        expect(await db.syncRaw({ login: 'hd_victim', verifier: verifierOf(db.newPassword()), groups: ['hd'] }, s)).toMatchObject({ created: true });
      } finally {
        await s.end();
      }
    } finally {
      await mallory.end();
    }
  });

  it('a sync account holding a login\'s lock in an open transaction delays others at most lock_timeout, with a clear 55P03', async () => {
    await db.syncLogin('hd_held', db.newPassword(), ['hd']);
    const holder = await db.connectSync();
    await holder.query('BEGIN');
    await db.syncRaw({ login: 'hd_held', verifier: verifierOf(db.newPassword()), groups: ['hd'] }, holder);
    try {
      const f = await failureOf(db.syncRaw({ login: 'hd_held', verifier: verifierOf(db.newPassword()), groups: ['hd'] }));
      expect(f.code).toBe('55P03');
      expect(f.message).toMatch(/another sync or revocation of login "hd_held" is still running/);
      expect(f.hint).toMatch(/Try again/);
    } finally {
      await holder.query('ROLLBACK');
      await holder.end();
    }
  });

  it('a refusal hidden inside the caller\'s own exception handler is still counted and logged', async () => {
    const before = await db.refusedCalls();
    const auditBefore = await db.admin.query(`SELECT count(*)::int AS n FROM rolecall.audit`);
    // A malformed verifier (raised) and a protected name (returned, then rolled back by the caller).
    await db.sync.query(`DO $$ BEGIN
        PERFORM rolecall.sync_login('hd_hidden', 'not-a-verifier', '{hd}', interval '1 hour', '{}');
      EXCEPTION WHEN OTHERS THEN NULL; END $$`);
    await db.sync.query(`DO $$ BEGIN
        PERFORM rolecall.sync_login('postgres', '${verifierOf(db.newPassword())}', '{hd}', interval '1 hour', '{}');
        RAISE EXCEPTION 'hide it';
      EXCEPTION WHEN OTHERS THEN NULL; END $$`);
    expect(await db.refusedCalls()).toBe(before + 2);
    const auditAfter = await db.admin.query(`SELECT count(*)::int AS n FROM rolecall.audit`);
    expect(auditAfter.rows[0].n).toBe(auditBefore.rows[0].n); // the caller's rollback took the audit rows
    const log = await db.serverLog();
    expect(log).toMatch(/LOG: {2}rolecall: refused sync_login of login "hd_hidden" by rolecall_sync from 127\.0\.0\.1: p_verifier must be a SCRAM-SHA-256 verifier/);
    expect(log).toMatch(/LOG: {2}rolecall: refused sync_login of login "postgres" by rolecall_sync from 127\.0\.0\.1: the role name is reserved/);
  });

  it.each([
    ['1025 groups', { groups: Array.from({ length: 1025 }, (_, i) => `g${i}`) }],
    ['a 2 KB group name', { groups: ['hd', 'x'.repeat(2048)] }],
    ['100 KB of groups', { groups: Array.from({ length: 100 }, (_, i) => `${i}${'y'.repeat(1000)}`) }],
    ['client info over 4 KiB', { clientInfo: { note: 'z'.repeat(5000) } }],
    ['client info that is not an object', { clientInfo: JSON.stringify(['a']) }],
  ])('bounds the audit row: %s is refused with 22023 and nothing is written', async (_what, extra) => {
    const before = await db.admin.query(`SELECT count(*)::int AS n FROM rolecall.audit`);
    const f = await failureOf(db.syncRaw({ login: 'hd_bounded', verifier: verifierOf(db.newPassword()), groups: ['hd'], ...extra }));
    expect(f.code).toBe('22023');
    const after = await db.admin.query(`SELECT count(*)::int AS n FROM rolecall.audit`);
    expect(after.rows[0].n).toBe(before.rows[0].n);
    expect(await db.stateOf('hd_bounded')).toContain('"role":[]');
  });

  it('refuses login names with edge white space, invisible or bidirectional characters, and look-alikes of existing roles', async () => {
    await db.admin.query(`CREATE ROLE "Reporting" NOLOGIN; CREATE ROLE finance NOLOGIN`);
    await db.syncLogin('hd_alice', db.newPassword(), ['hd']);
    const refused: Array<[string, RegExp]> = [
      [' hd_bob', /white space/],
      ['hd_bob ', /white space/],
      ['hd\u200bbob', /invisible/],
      ['hd_b\u202eob', /invisible|bidirectional/],
      ['hd\u00a0bob', /space-like/],
      ['hd_bob\u2060', /invisible/],
      ['hd_bob\u{e0041}', /invisible/],
      ['reporting', /differs from the existing role "Reporting" only by case/],
      ['HD_ALICE', /differs from the existing role "hd_alice"/],
      ['\ufb01nance', /differs from the existing role "finance" only by case or Unicode form/],
      ['\uff50\uff4f\uff53\uff54\uff47\uff52\uff45\uff53', /reserved/], // full-width "postgres"
      ['\uff30\uff27_monitor', /reserved/],
    ];
    for (const [name, why] of refused) {
      const before = await db.stateOf(name);
      const r = await db.syncLogin(name, db.newPassword(), ['hd']);
      expect({ name, refused: r.refused }).toEqual({ name, refused: expect.stringMatching(why) });
      expect(await db.stateOf(name)).toBe(before);
    }
    expect(await db.syncLogin('Ünïcødé user', db.newPassword(), ['hd'])).toMatchObject({ created: true });
  });

  it('refuses verifiers below 4096 iterations or with a salt under 16 bytes; an admin can raise the floor', async () => {
    const salt15 = Buffer.alloc(15, 1);
    for (const [verifier, why] of [
      [verifierOf(db.newPassword(), { iterations: 4095 }), /uses 4095 iterations; this database requires at least 4096/],
      [verifierOf(db.newPassword(), { salt: salt15 }), /salt is 15 bytes; at least 16 are required/],
    ] as const) {
      const f = await failureOf(db.syncRaw({ login: 'hd_weak', verifier, groups: ['hd'] }));
      expect(f.code).toBe('22023');
      expect(f.message).toMatch(why);
    }
    await db.admin.query(`SELECT rolecall.configure('min_scram_iterations', '10000')`);
    try {
      expect((await db.sync.query('SELECT rolecall.sync_parameters() AS p')).rows[0].p).toMatchObject({ min_scram_iterations: 10000 });
      expect((await failureOf(db.syncLogin('hd_weak', db.newPassword(), ['hd']))).message).toMatch(/requires at least 10000/);
      const strong = await db.syncRaw({ login: 'hd_weak', verifier: verifierOf(db.newPassword(), { iterations: 10000 }), groups: ['hd'] });
      expect(strong).toMatchObject({ created: true });
      for (const bad of ['4095', '10000001', 'lots', '']) {
        expect((await failureOf(db.admin.query(`SELECT rolecall.configure('min_scram_iterations', $1)`, [bad]))).code).toBe('22023');
      }
      expect((await failureOf(db.admin.query(`SELECT rolecall.configure('no_such', '1')`))).message).toMatch(/unknown setting/);
      expect((await failureOf(db.sync.query(`SELECT rolecall.configure('min_scram_iterations', '4096')`))).code).toBe('42501');
    } finally {
      await db.admin.query(`SELECT rolecall.configure('min_scram_iterations', '4096')`);
    }
  });

  it('a password a synced login set for itself stops working at its next sync', async () => {
    const password = db.newPassword();
    await db.syncLogin('hd_selfset', password, ['hd']);
    const own = db.newPassword();
    const self = await db.server.connect({ user: 'hd_selfset', password });
    await self.query(`ALTER ROLE hd_selfset PASSWORD '${verifierOf(own)}'`);
    await self.end();
    expect(await db.canLogIn('hd_selfset', own)).toBe(true);
    const next = db.newPassword();
    await db.syncLogin('hd_selfset', next, ['hd']);
    expect(await db.canLogIn('hd_selfset', own)).toBe(false);
    expect(await db.canLogIn('hd_selfset', next)).toBe(true);
  });

  it.runIf(version === 15)('PostgreSQL 15: the owner could grant predefined roles itself; the functions never do', async () => {
    // On 15, CREATEROLE may grant any non-superuser role: the functions' own checks are the only guard.
    await db.admin.query(`CREATE ROLE hd_exec NOLOGIN; GRANT pg_execute_server_program TO hd_exec;
                          INSERT INTO rolecall.group_role (group_name, role_name) VALUES ('hd', 'hd_exec'), ('hd', 'pg_execute_server_program')`);
    const r = await db.syncLogin('hd_pg15', db.newPassword(), ['hd']);
    expect(r).toMatchObject({ roles: ['hd_read'], skipped: ['hd_exec', 'pg_execute_server_program'] });
    expect(await db.memberships('hd_pg15')).toEqual(['hd_read']);
    await db.admin.query(`DELETE FROM rolecall.group_role WHERE role_name IN ('hd_exec', 'pg_execute_server_program')`);
  });
});
