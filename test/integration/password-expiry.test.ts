import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRolecallEnv, USERS, type RolecallEnv } from '../harness/rolecall-env.js';

// Direct mode with OpenLDAP ppolicy: a sign-in whose directory password
// expires within expiryWarningDays (7) gets a WARNING notice that psql prints
// and drivers hand to their notice handlers; the proxy's status lists the
// login for the Status page. Nothing when the expiry is far away.
// Samba AD: proxy-active-directory.test.ts; team mode: broker-laptop.test.ts.

const DAY_S = 86_400;
let env: RolecallEnv;

beforeAll(async () => {
  env = await startRolecallEnv();
  const twoDays = await env.ldap.addPolicy('two-days', { pwdMaxAge: String(2 * DAY_S) });
  const year = await env.ldap.addPolicy('one-year', { pwdMaxAge: String(365 * DAY_S) });
  const soon = await env.ldap.addUser('soon', 'soon-Pass-1', { policy: twoDays });
  const later = await env.ldap.addUser('later', 'later-Pass-1', { policy: year });
  await env.ldap.addMembers('heimdall-hr-data', [soon, later]);
}, 120_000);

afterAll(async () => {
  await env?.stop();
});

const status = () => env.service.get('app')!.status();

describe('password expiry warning at sign-in (OpenLDAP ppolicy)', () => {
  it('psql prints the warning and its hint when the password expires in 2 days, and the query runs', async () => {
    const r = await env.psql('soon', 'soon-Pass-1', ['-At', '-c', 'select current_user']);
    expect(r.code, r.stderr).toBe(0);
    expect(r.stdout.trim()).toBe('soon');
    expect(r.stderr).toMatch(/^WARNING: {2}your directory password expires in 2 days\nHINT: {2}Change it before \d{4}-\d\d-\d\d \d\d:\d\d UTC .*then connect with the new one\.\n$/);
  });

  it('a cache hit warns too, and node-postgres gets the notice with SQLSTATE 01000', async () => {
    const hitsBefore = status().counters.cacheHits;
    const c = new pg.Client({ host: '127.0.0.1', port: env.port, user: 'soon', password: 'soon-Pass-1', database: 'app' });
    const notices: { severity?: string | undefined; code?: string | undefined; message?: string | undefined }[] = [];
    c.on('notice', (n) => notices.push(n));
    await c.connect();
    await c.end();
    expect(status().counters.cacheHits).toBe(hitsBefore + 1);
    expect(notices).toEqual([expect.objectContaining({ severity: 'WARNING', code: '01000', message: 'your directory password expires in 2 days' })]);
  });

  it('says nothing when the expiry is a year away or no policy ages the password', async () => {
    for (const [user, password] of [['later', 'later-Pass-1'], ['alice', USERS.alice]] as const) {
      const r = await env.psql(user, password, ['-At', '-c', 'select current_user']);
      expect(r.code, r.stderr).toBe(0);
      expect(r.stderr).toBe('');
    }
  });

  it('the proxy\'s status lists the login whose password expires soon, for the Status page', () => {
    expect(status().passwordWarnings).toEqual([
      {
        login: 'soon',
        expiresAt: expect.stringMatching(/^\d{4}-\d\d-\d\dT/),
        daysLeft: 2,
        message: 'your directory password expires in 2 days',
        hint: expect.stringMatching(/^Change it before /),
      },
    ]);
  });
});
