import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { failureOf, startRolecallDb, verifierOf, type RolecallDb } from '../../harness/rolecall-sql.js';

/*
 * Attack class 1: a VALID UNTIL far beyond the 366-day cap. Compared as
 * intervals a month counts as 30 days, so mixed month/day values used to give
 * passwords valid for years or millennia.
 */
describe.each([15, 18] as const)('sync_login caps VALID UNTIL on the resulting timestamp, PostgreSQL %i', (version) => {
  let db: RolecallDb;
  const validUntil = async (login: string): Promise<Date | null | undefined> => {
    const res = await db.admin.query<{ v: Date | null }>('SELECT rolvaliduntil AS v FROM pg_roles WHERE rolname = $1', [login]);
    return res.rows[0]?.v;
  };

  beforeAll(async () => {
    db = await startRolecallDb(version);
    await db.admin.query(`CREATE ROLE vf_read NOLOGIN; SELECT rolecall.allow_group('vf', 'vf_read')`);
  });
  afterAll(() => db?.close());

  const bad: Array<[string, string | null]> = [
    ['a year of months plus days (370 days)', '12 months 5 days'],
    ['15 years hidden in months minus days', '1000 years -359700 days'],
    ['1400 years hidden in months minus days', '100000 years -35999700 days'],
    ['367 days', '367 days'],
    ['zero', '0'],
    ['negative', '-1 hour'],
    ['negative hidden in months', '1 month -40 days'],
    ['NULL', null],
    ['beyond the timestamp range', '1000000 years'],
    ...(version >= 17 ? ([['infinity', 'infinity']] as Array<[string, string]>) : []),
  ];

  it.each(bad)('refuses %s for a new login: 22023, nothing created', async (_what, validFor) => {
    const login = `vf_new_${Math.random().toString(36).slice(2, 8)}`;
    const f = await failureOf(db.syncRaw({ login, verifier: verifierOf(db.newPassword()), groups: ['vf'], validFor }));
    expect(f.code).toBe('22023');
    expect(f.message).toMatch(/p_valid_for must be a finite, positive interval that ends at most 366 days from now/);
    expect(await validUntil(login)).toBeUndefined();
  });

  it.each(bad)('refuses %s for an existing login: its VALID UNTIL and password stay as they were', async (_what, validFor) => {
    const password = db.newPassword();
    await db.syncLogin('vf_existing', password, ['vf']);
    const before = await db.stateOf('vf_existing');
    const f = await failureOf(db.syncRaw({ login: 'vf_existing', verifier: verifierOf(db.newPassword()), groups: ['vf'], validFor }));
    expect(f.code).toBe('22023');
    expect(await db.stateOf('vf_existing')).toBe(before);
    expect(await db.canLogIn('vf_existing', password)).toBe(true);
  });

  it('accepts up to 366 days, whatever units say it, and VALID UNTIL never lands later', async () => {
    for (const validFor of ['366 days', '12 months', '1 year', '8784 hours', '11 months 29 days']) {
      const login = 'vf_ok';
      const r = await db.syncRaw({ login, verifier: verifierOf(db.newPassword()), groups: ['vf'], validFor });
      expect(r).toMatchObject({ denied: false, roles: ['vf_read'] });
      const until = (await validUntil(login))!.getTime();
      expect(until).toBeLessThanOrEqual(Date.now() + 366 * 86_400_000 + 60_000);
      expect(Date.parse(r.valid_until!)).toBe(Math.floor(until / 1000) * 1000);
    }
  });
});
