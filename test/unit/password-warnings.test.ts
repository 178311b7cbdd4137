import { describe, expect, it } from 'vitest';
import { expiryWarningDays, passwordWarningFor } from '../../src-main/core/auth/password-warning.js';
import { profileSchema, type Profile } from '../../src-main/core/profiles/schema.js';
import { PasswordWarnings } from '../../src-main/core/proxy/password-warnings.js';

// Which sign-ins carry a password expiry warning, and what one proxy's status
// says about them over time. The words themselves: directory-expiry.test.ts.

const DAY = 86_400_000;
const now = Date.parse('2026-03-10T12:00:00Z');

function direct(expiryWarningDays?: number): Profile {
  return profileSchema.parse({
    id: 'hr',
    name: 'HR',
    directory: { kind: 'openldap', url: 'ldap://ldap.test:389', bindDn: 'cn=svc', baseDn: 'dc=test', ...(expiryWarningDays === undefined ? {} : { expiryWarningDays }) },
    database: { host: 'db.test', database: 'hr' },
    listen: { port: 6432 },
  });
}

const broker: Profile = profileSchema.parse({
  mode: 'broker',
  id: 'team',
  name: 'Team',
  broker: { urls: ['https://broker.test:8443'], database: 'hr' },
  database: { host: 'db.test', database: 'hr' },
  listen: { port: 6433 },
});

describe('passwordWarningFor', () => {
  it('warns within the directory\'s expiryWarningDays (7 by default), never with 0', () => {
    expect(expiryWarningDays(direct())).toBe(7);
    expect(passwordWarningFor(direct(), 'alice', new Date(now + 3 * DAY), new Date(now))).toEqual({
      login: 'alice',
      expiresAt: '2026-03-13T12:00:00.000Z',
      daysLeft: 3,
      message: 'your directory password expires in 3 days',
      hint: expect.stringMatching(/^Change it before 2026-03-13 12:00 UTC/),
    });
    expect(passwordWarningFor(direct(), 'alice', new Date(now + 8 * DAY), new Date(now))).toBeNull();
    expect(passwordWarningFor(direct(0), 'alice', new Date(now + DAY), new Date(now))).toBeNull();
    expect(passwordWarningFor(direct(), 'alice', undefined, new Date(now))).toBeNull();
  });

  it('in team mode shows what the broker sent: it sends an expiry only within its own warning days', () => {
    expect(passwordWarningFor(broker, 'alice', new Date(now + 20 * DAY), new Date(now))?.message).toBe('your directory password expires in 20 days');
    expect(passwordWarningFor(broker, 'alice', undefined, new Date(now))).toBeNull();
  });
});

describe('PasswordWarnings (a proxy\'s status)', () => {
  it('lists the logins that signed in with a password expiring soon, in words of the moment, until it expires or they sign in without one', () => {
    const clock = { t: now };
    const warnings = new PasswordWarnings(direct(), () => clock.t);
    const w = (login: string, days: number) => passwordWarningFor(direct(), login, new Date(now + days * DAY), new Date(now)) ?? undefined;
    warnings.signedIn('alice', w('alice', 3));
    warnings.signedIn('bob', w('bob', 2));
    warnings.signedIn('carol', undefined);
    expect(warnings.current().map((x) => [x.login, x.message])).toEqual([
      ['alice', 'your directory password expires in 3 days'],
      ['bob', 'your directory password expires in 2 days'],
    ]);
    clock.t += DAY;
    expect(warnings.current().map((x) => x.message)).toEqual(['your directory password expires in 2 days', 'your directory password expires in 1 day']);
    // bob changed his password: his next sign-in carries no warning.
    warnings.signedIn('bob', undefined);
    expect(warnings.current().map((x) => x.login)).toEqual(['alice']);
    clock.t += 2 * DAY + 1000;
    expect(warnings.current()).toEqual([]);
  });
});
