import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRolecallDb, type RolecallDb } from '../../harness/rolecall-sql.js';

/*
 * Attack class 4: an admin grants a powerful role to a Rolecall-managed login.
 * The login's own attributes still look harmless, so the sync account used to
 * go on resetting its password: whoever holds the sync password then held that
 * power. The effective power is checked through every membership an admin gave.
 */
describe.each([15, 18] as const)('a managed login an admin made powerful is no longer touched, PostgreSQL %i', (version) => {
  let db: RolecallDb;

  beforeAll(async () => {
    db = await startRolecallDb(version);
    await db.admin.query(`CREATE ROLE el_read NOLOGIN; SELECT rolecall.allow_group('el', 'el_read')`);
    await db.admin.query(`CREATE ROLE el_ops NOLOGIN; GRANT pg_read_all_data TO el_ops;
                          CREATE ROLE el_sup SUPERUSER NOLOGIN; CREATE ROLE el_other_login LOGIN`);
  });
  afterAll(() => db?.close());

  it.each([
    ['a predefined role, directly', 'pg_monitor'],
    ['a predefined role through a plain role', 'el_ops'],
    ['a superuser role', 'el_sup'],
    ['Rolecall\'s own sync role', 'rolecall_sync'],
    ['another login', 'el_other_login'],
  ])('%s: sync and revoke are refused, audited, counted and logged; password and grants stay', async (_what, powerful) => {
    const login = `el_${powerful.replace(/\W/g, '')}`;
    const password = db.newPassword();
    await db.syncLogin(login, password, ['el']);
    await db.admin.query(`GRANT ${powerful} TO ${login}`);
    const before = await db.stateOf(login);
    const refusedBefore = await db.refusedCalls();

    const r = await db.syncLogin(login, db.newPassword(), ['el']);
    expect(r).toMatchObject({ denied: true, granted: [], roles: [] });
    expect(r.refused).toMatch(new RegExp(`an admin made it a member of "${powerful}"[ ,].*no longer manages it`));
    expect(r.message).toMatch(new RegExp(`^Rolecall refuses to manage role "${login}"`));
    const rev = await db.revokeLogin(login, 'offboarding');
    expect(rev).toMatchObject({ refused: expect.stringMatching(/no longer manages it/), revoked: [] });

    expect(await db.stateOf(login)).toBe(before);
    expect(await db.canLogIn(login, password)).toBe(true);
    expect((await db.auditRows(login)).slice(-2)).toMatchObject([
      { action: 'sync', outcome: 'refused' },
      { action: 'revoke', outcome: 'refused' },
    ]);
    expect(await db.refusedCalls()).toBe(refusedBefore + 2);
    expect(await db.serverLog()).toContain(`rolecall: refused sync_login of login "${login}" by rolecall_sync`);
    await db.admin.query(`REVOKE ${powerful} FROM ${login}`);
  });

  it('a plain role an admin granted by hand does not stop the sync, and is never revoked', async () => {
    await db.syncLogin('el_plain', db.newPassword(), ['el']);
    await db.admin.query('CREATE ROLE el_hand NOLOGIN; GRANT el_hand TO el_plain');
    expect(await db.syncLogin('el_plain', db.newPassword(), ['el'])).toMatchObject({ denied: false, roles: ['el_read'] });
    expect(await db.memberships('el_plain')).toEqual(['el_hand', 'el_read']);
  });

  it('preview_sync says why, and changes nothing', async () => {
    await db.syncLogin('el_preview', db.newPassword(), ['el']);
    await db.admin.query('GRANT el_ops TO el_preview');
    const res = await db.sync.query('SELECT rolecall.preview_sync($1, $2) AS r', ['el_preview', ['el']]);
    expect(res.rows[0].r).toMatchObject({ denied: true, created: false, roles: [], granted: [], refused: expect.stringMatching(/el_ops/) });
  });
});
