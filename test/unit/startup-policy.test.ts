import { describe, expect, it } from 'vitest';
import { profileSchema } from '../../src-main/core/profiles/schema.js';
import { checkStartup, upstreamParameters } from '../../src-main/core/proxy/startup-policy.js';

// The proxy's startup rules as a pure function; test/integration/proxy-protocol.test.ts sends the same cases over the wire.
const profile = profileSchema.parse({
  id: 'hr',
  name: 'HR',
  directory: { url: 'ldaps://dc.example.test', bindDn: 'svc@example.test', baseDn: 'DC=example,DC=test' },
  database: { host: 'db.example.test', database: 'hr', allowedDatabases: ['hr_archive'], sessionDefaults: { default_transaction_read_only: 'on' } },
  listen: { port: 6432 },
});

describe('checkStartup', () => {
  it("serves the profile's database for no name, the login's name or the profile's own", () => {
    for (const database of [undefined, 'alice', 'hr']) {
      const params: Record<string, string> = { user: 'alice', application_name: 'psql', ...(database ? { database } : {}) };
      expect(checkStartup(params, profile)).toEqual({ ok: true, request: { typedLogin: 'alice', database: 'hr', applicationName: 'psql' } });
    }
    expect(checkStartup({ user: 'alice', database: 'hr_archive' }, profile)).toMatchObject({ ok: true, request: { database: 'hr_archive' } });
  });

  it('refuses another database with 3D000 naming the ones it serves, keeping the login for history', () => {
    const r = checkStartup({ user: 'alice', database: 'payroll', application_name: 'x' }, profile);
    expect(r).toMatchObject({ ok: false, typedLogin: 'alice', applicationName: 'x', error: { sqlstate: '3D000' } });
    if (!r.ok) expect(r.error.hint).toMatch(/"hr" and "hr_archive"/);
  });

  it('needs a user name (28000) and refuses replication (0A000) unless it is off', () => {
    expect(checkStartup({ database: 'hr' }, profile)).toMatchObject({ ok: false, typedLogin: null, error: { sqlstate: '28000' } });
    expect(checkStartup({ user: 'alice', replication: 'database' }, profile)).toMatchObject({ ok: false, typedLogin: 'alice', error: { sqlstate: '0A000' } });
    expect(checkStartup({ user: 'alice', replication: 'OFF' }, profile).ok).toBe(true);
  });
});

describe('upstreamParameters', () => {
  it("starts from the profile's session defaults, lets the client override them, and never passes user or replication", () => {
    expect(upstreamParameters({ user: 'alice', database: 'alice', replication: 'false', application_name: 'psql' }, 'hr', profile)).toEqual({
      default_transaction_read_only: 'on',
      application_name: 'psql',
      database: 'hr',
    });
    expect(upstreamParameters({ default_transaction_read_only: 'off' }, 'hr', profile)).toMatchObject({ default_transaction_read_only: 'off' });
  });
});
