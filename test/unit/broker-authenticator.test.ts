import { describe, expect, it } from 'vitest';
import { BrokerAuthenticator, type BrokerPort } from '../../src-main/core/auth/broker-authenticator.js';
import type { RevalidateRequest, SignInRequest } from '../../src-main/core/broker-api/schema.js';
import { BrokerFailure } from '../../src-main/core/broker-client/broker-failure.js';
import { ClientError } from '../../src-main/core/client-errors.js';

// Unit test of the caching, timing and error mapping only: the broker is a
// stand-in here (its transport is tested in broker-client.test.ts against
// hostile HTTPS servers, and the real broker in test/integration/broker-*.test.ts).

const MIN = 60_000;

function setup(options: { window?: number; brokerClockOffset?: number; directoryPasswordExpiresAt?: string } = {}) {
  const clock = { t: Date.parse('2026-12-01T10:00:00Z') };
  const window = options.window ?? 15 * MIN;
  const calls = { signIn: [] as SignInRequest[], revalidate: [] as RevalidateRequest[] };
  let next: 'ok' | BrokerFailure = 'ok';
  let revoked: string | null = null;
  const broker: BrokerPort = {
    async signIn(request) {
      calls.signIn.push(request);
      await new Promise((r) => setTimeout(r, 5));
      if (next !== 'ok') throw next;
      if (request.password !== 'alice-pass') {
        throw new BrokerFailure('answer', 'password authentication failed for user "alice"', {
          url: 'https://b', tried: [], status: 401, error: { sqlstate: '28P01', message: 'password authentication failed for user "alice"', hint: 'Use your directory account.' },
        });
      }
      const brokerNow = clock.t + (options.brokerClockOffset ?? 0);
      const end = Math.floor(brokerNow / window) * window + window;
      return {
        value: { login: 'alice', password: `db-${end}-${'x'.repeat(16)}`, validUntil: new Date(end + window).toISOString(), renewAfter: new Date(end).toISOString(), groups: ['heimdall-hr-data'], roles: ['heimdall-hr-data'],
          ...(options.directoryPasswordExpiresAt ? { directoryPasswordExpiresAt: options.directoryPasswordExpiresAt } : {}) },
        url: 'https://b',
        serverDate: Math.floor(brokerNow / 1000) * 1000,
      };
    },
    async revalidate(request) {
      calls.revalidate.push(request);
      return { value: { revoked, groups: [], roles: [] }, url: 'https://b', serverDate: undefined };
    },
    close: () => undefined,
  };
  const auth = new BrokerAuthenticator({ profileId: 'p', database: 'hr', marginMs: MIN, negativeTtlMs: 30_000 }, broker, undefined, () => clock.t);
  return {
    auth,
    calls,
    clock,
    fail: (f: BrokerFailure | 'ok') => (next = f),
    revokeWith: (r: string | null) => (revoked = r),
  };
}

describe('BrokerAuthenticator', () => {
  it('logs in upstream with the broker\'s password and reuses it until its window ends minus the margin', async () => {
    const { auth, calls, clock } = setup();
    const first = await auth.authenticate('alice', 'alice-pass', { application_name: 'psql', client_addr: null });
    expect(first).toMatchObject({ login: 'alice', roles: ['heimdall-hr-data'], cacheHit: false, databasePassword: expect.stringMatching(/^db-/) });
    expect(calls.signIn[0]).toMatchObject({ login: 'alice', database: 'hr', clientInfo: { application_name: 'psql', profile: 'p', host: expect.any(String) } });
    // Nulls never reach the broker (its schema has no place for them).
    expect(calls.signIn[0]?.clientInfo).not.toHaveProperty('client_addr');
    clock.t += 13 * MIN;
    expect(await auth.authenticate('ALICE', 'alice-pass', {})).toMatchObject({ cacheHit: true, databasePassword: first.databasePassword });
    // Within the margin before the window ends: asked again, and the next window's password comes back.
    clock.t += MIN + 1000;
    const third = await auth.authenticate('alice', 'alice-pass', {});
    expect(third.cacheHit).toBe(false);
    expect(calls.signIn).toHaveLength(2);
    clock.t += 2 * MIN;
    expect((await auth.authenticate('alice', 'alice-pass', {})).databasePassword).not.toBe(first.databasePassword);
  });

  it('carries the broker\'s directory password expiry, on cache hits too, and none when the broker sent none', async () => {
    const expiresAt = '2026-12-04T10:00:00.000Z';
    const { auth } = setup({ directoryPasswordExpiresAt: expiresAt });
    expect((await auth.authenticate('alice', 'alice-pass', {})).passwordExpiresAt).toEqual(new Date(expiresAt));
    expect(await auth.authenticate('alice', 'alice-pass', {})).toMatchObject({ cacheHit: true, passwordExpiresAt: new Date(expiresAt) });
    expect(await setup().auth.authenticate('alice', 'alice-pass', {})).not.toHaveProperty('passwordExpiresAt');
  });

  it('measures the window on the broker\'s clock, not the laptop\'s', async () => {
    // The laptop is 10 minutes behind: by its own clock it would reuse the password into the next window.
    const { auth, calls, clock } = setup({ brokerClockOffset: 10 * MIN });
    await auth.authenticate('alice', 'alice-pass', {});
    clock.t += 4 * MIN;
    await auth.authenticate('alice', 'alice-pass', {});
    expect(calls.signIn).toHaveLength(2);
  });

  it('shares one sign-in between concurrent clients and remembers a definite no, not an outage', async () => {
    const { auth, calls, fail, clock } = setup();
    const all = await Promise.all([1, 2, 3].map(() => auth.authenticate('alice', 'alice-pass', {})));
    expect(all.map((r) => r.databasePassword)).toEqual([all[0]?.databasePassword, all[0]?.databasePassword, all[0]?.databasePassword]);
    expect(calls.signIn).toHaveLength(1);

    const wrong = await auth.authenticate('alice', 'nope', {}).catch((e: unknown) => e);
    expect(wrong).toMatchObject({ sqlstate: '28P01', message: 'password authentication failed for user "alice"', hint: 'Use your directory account.' });
    await expect(auth.authenticate('alice', 'nope', {})).rejects.toMatchObject({ sqlstate: '28P01' });
    expect(calls.signIn).toHaveLength(2);
    expect(auth.counters).toMatchObject({ brokerCalls: 2, cacheHits: 0, negativeHits: 1 });

    auth.forgetAll();
    fail(new BrokerFailure('unreachable', 'the team broker at https://b is not reachable', { url: 'https://b', tried: [{ url: 'https://b', reason: 'ECONNREFUSED' }] }));
    const down = await auth.authenticate('alice', 'alice-pass', {}).catch((e: unknown) => e);
    expect(down).toBeInstanceOf(ClientError);
    expect(down).toMatchObject({ sqlstate: '57P03', message: 'the team broker at https://b is not reachable', detail: 'ECONNREFUSED' });
    fail('ok');
    clock.t += 1000;
    expect((await auth.authenticate('alice', 'alice-pass', {})).cacheHit).toBe(false);
  });

  it('refuses empty and oversized credentials without asking the broker', async () => {
    const { auth, calls } = setup();
    for (const [login, password] of [['alice', ''], ['alice', 'x'.repeat(1025)], ['a'.repeat(257), 'alice-pass']] as const) {
      await expect(auth.authenticate(login, password, {})).rejects.toMatchObject({ sqlstate: '28P01' });
    }
    expect(calls.signIn).toHaveLength(0);
  });

  it('revalidates with the database password it got, and revoking only forgets', async () => {
    const { auth, calls, revokeWith } = setup();
    await expect(auth.recheck('alice')).rejects.toThrow(/no database password/);
    const r = await auth.authenticate('alice', 'alice-pass', {});
    expect(await auth.recheck('alice')).toBeNull();
    expect(calls.revalidate).toEqual([{ login: 'alice', database: 'hr', databasePassword: r.databasePassword }]);
    revokeWith('the account is no longer in any permitted directory group');
    expect(await auth.recheck('alice')).toBe('the account is no longer in any permitted directory group');
    await auth.revoke('alice');
    expect((await auth.authenticate('alice', 'alice-pass', {})).cacheHit).toBe(false);
    expect(calls.revalidate).toHaveLength(2);
  });

  it('shows each signed-in login with when its database password expires, never the password', async () => {
    const { auth, clock } = setup();
    expect(auth.credentials()).toEqual([]);
    const r = await auth.authenticate('alice', 'alice-pass', {});
    const [cred] = auth.credentials();
    // The window of 10:00 ends at 10:15; VALID UNTIL is a window later; reused until 10:14 (the margin).
    expect(cred).toEqual({
      login: 'alice',
      validUntil: '2026-12-01T10:30:00.000Z',
      renewAfter: '2026-12-01T10:15:00.000Z',
      reuseUntil: Date.parse('2026-12-01T10:14:00Z') - 1000,
      signedInAt: clock.t,
    });
    expect(JSON.stringify(auth.credentials())).not.toContain(r.databasePassword!);
    // Past VALID UNTIL it is not shown any more; revoking drops it at once.
    clock.t = Date.parse('2026-12-01T10:30:01Z');
    expect(auth.credentials()).toEqual([]);
    clock.t = Date.parse('2026-12-01T10:00:00Z');
    await auth.revoke('alice');
    expect(auth.credentials()).toEqual([]);
  });

  it('reports an unreachable broker and a held login as trouble, not a plain wrong password', async () => {
    const { auth, fail } = setup();
    const troubles: unknown[] = [];
    auth.on('trouble', (t) => troubles.push(t));
    await auth.authenticate('alice', 'nope', {}).catch(() => undefined);
    expect(troubles).toEqual([]);
    fail(new BrokerFailure('unreachable', 'the team broker at https://b is not reachable', { url: 'https://b', tried: [] }));
    await auth.authenticate('bob', 'x', {}).catch(() => undefined);
    const held = { url: 'https://b', tried: [], status: 401, error: { sqlstate: '28P01', message: 'password authentication failed for user "carol"', retryAfterSeconds: 12 } };
    fail(new BrokerFailure('answer', 'password authentication failed for user "carol"', held));
    await auth.authenticate('carol', 'carol-pass', {}).catch(() => undefined);
    fail(new BrokerFailure('answer', 'too many requests', { url: 'https://b', tried: [], status: 429, error: { sqlstate: '53300', message: 'too many requests' } }));
    await auth.authenticate('dave', 'x', {}).catch(() => undefined);
    expect(troubles).toEqual([
      { kind: 'unreachable', login: 'bob', message: 'the team broker at https://b is not reachable' },
      { kind: 'throttled', login: 'carol', message: 'password authentication failed for user "carol"', retryAfterSeconds: 12 },
      { kind: 'throttled', login: 'dave', message: 'too many requests' },
    ]);
  });
});
