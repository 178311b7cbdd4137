import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { startRolecallEnv, USERS, type RolecallEnv } from '../harness/rolecall-env.js';
import { cancelThroughProxy } from '../harness/pg-wire.js';
import type { PgVersion } from '../harness/postgres.js';
import { forgetDirectTlsRefusals } from '../../src-main/core/proxy/upstream/direct-tls.js';

/**
 * database.sslnegotiation=direct end to end: clients through the proxy while
 * the proxy reaches PostgreSQL 18 with TLS from the first byte, and PostgreSQL
 * 15 (no direct TLS) through the fallback to SSLRequest.
 */

const FALLBACK = /does not accept direct TLS/g;

describe.each([18, 15] as PgVersion[])('sslnegotiation=direct to PostgreSQL %i', (version) => {
  let env: RolecallEnv;

  beforeAll(async () => {
    forgetDirectTlsRefusals();
    // localhost: verify-full checks the name, and the name goes out as SNI.
    env = await startRolecallEnv({
      pgVersion: version,
      profile: (b) => ({ ...b, database: { ...b.database, host: 'localhost', sslnegotiation: 'direct' } }),
    });
  });
  afterAll(async () => {
    await env?.stop();
  });

  it('serves psql: queries over verified TLS and a COPY out of a few MB', async () => {
    const r = await env.psql('alice', USERS.alice, [
      '-At',
      '-c', 'select current_user, ssl from pg_stat_ssl where pid = pg_backend_pid()',
      '-c', "\\copy (select repeat('x', 1000) from generate_series(1, 4000)) to stdout",
    ]);
    expect(r.stderr).toBe('');
    expect(r.code).toBe(0);
    const lines = r.stdout.split('\n');
    expect(lines[0]).toBe('alice|t');
    expect(lines.filter((l) => l === 'x'.repeat(1000)).length).toBe(4000);
  });

  it('forwards a cancel to the server it reached directly', async () => {
    const c = await env.connect('alice', USERS.alice);
    expect(await cancelThroughProxy(env.port, c)).toBe('57014');
    await c.end();
  });

  it(version >= 17 ? 'never falls back to SSLRequest' : 'falls back to SSLRequest and says so once in the log', async () => {
    // Several new server logins (each client a new login: no kept connection to reuse).
    for (const user of ['dave', 'erin'] as const) {
      const c = await env.connect(user, USERS[user]);
      expect((await c.query('select ssl from pg_stat_ssl where pid = pg_backend_pid()')).rows[0].ssl).toBe(true);
      await c.end();
    }
    expect(env.logText().match(FALLBACK)?.length ?? 0).toBe(version >= 17 ? 0 : 1);
    // Each server login says how TLS started: without SSLRequest only where the server speaks it.
    const direct = env.logText().match(/"directTls":true/g)?.length ?? 0;
    if (version >= 17) expect(direct).toBeGreaterThanOrEqual(3);
    else expect(direct).toBe(0);
  });
});
