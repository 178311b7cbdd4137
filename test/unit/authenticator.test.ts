import { describe, expect, it } from 'vitest';
import { DirectoryAuthenticator, type AuthSettings } from '../../src-main/core/auth/directory-authenticator.js';
import { ClientError } from '../../src-main/core/client-errors.js';
import { isScramVerifier } from '../../src-main/core/sync/scram-verifier.js';

// Unit test of the caching and error mapping only: the directory and the database
// are stand-ins here; test/integration/proxy-*.test.ts runs the same paths against real servers.
const SOON = new Date('2026-12-04T10:00:00Z');
const users: Record<string, { password: string; groups: string[]; canonical?: string; passwordExpiresAt?: Date }> = {
  alice: { password: 'alice-pass', groups: ['heimdall-hr-data', 'staff'] },
  erin: { password: 'erin-pass', groups: ['heimdall-hr-data'], passwordExpiresAt: SOON },
  bob: { password: 'bob-pass', groups: ['staff'] },
  postgres: { password: 'pg-pass', groups: ['heimdall-hr-data'] },
};

function setup(now = { t: 0 }) {
  const calls = { directory: 0, sync: 0, verifiers: [] as string[], iterations: 4096 };
  const directory = {
    async authenticate(login: string, password: string) {
      calls.directory++;
      await new Promise((r) => setTimeout(r, 5));
      const name = login.replace(/^.*\\/, '').toLowerCase();
      const u = users[name];
      if (!u || u.password !== password) throw Object.assign(new Error('bad'), { failure: 'invalid-credentials' });
      return { login: name.toUpperCase(), dn: `uid=${name}`, groups: u.groups, ...(u.passwordExpiresAt ? { passwordExpiresAt: u.passwordExpiresAt } : {}) };
    },
    lookup: async () => null,
    close: async () => undefined,
  };
  const sync = {
    async syncLogin(input: { verifier: string; groups: string[] }) {
      calls.sync++;
      calls.verifiers.push(input.verifier);
      return { created: true, granted: input.groups, revoked: [], roles: input.groups };
    },
    revokeLogin: async () => undefined,
    minScramIterations: async () => calls.iterations,
    close: async () => undefined,
  };
  const settings: AuthSettings = {
    profileId: 'p',
    cacheTtlMs: 60_000,
    negativeTtlMs: 5_000,
    passwordValidForSeconds: 3600,
    loginCase: 'lower',
    permittedGroups: (g) => g.filter((x) => x.startsWith('heimdall-')),
  };
  return { auth: new DirectoryAuthenticator(settings, directory, sync, undefined, () => now.t), calls, now };
}

describe('Authenticator', () => {
  it('builds the verifier with the iteration count the database asks for', async () => {
    const { auth, calls } = setup();
    calls.iterations = 20000;
    await auth.authenticate('alice', 'alice-pass', {});
    expect(calls.verifiers[0]).toMatch(/^SCRAM-SHA-256\$20000:/);
  });

  it('checks the directory once, then serves the same login and password from the cache', async () => {
    const { auth, calls } = setup();
    const first = await auth.authenticate('alice', 'alice-pass', {});
    const second = await auth.authenticate('ALICE', 'alice-pass', {});
    expect(first).toMatchObject({ login: 'alice', groups: ['heimdall-hr-data'], cacheHit: false });
    expect(second.cacheHit).toBe(true);
    expect(calls).toMatchObject({ directory: 1, sync: 1 });
    expect(isScramVerifier(calls.verifiers[0]!)).toBe(true);
    expect(calls.verifiers[0]).not.toContain('alice-pass');
  });

  it('carries the directory password\'s expiry, on cache hits too (so every connection can warn)', async () => {
    const { auth } = setup();
    expect(await auth.authenticate('erin', 'erin-pass', {})).toMatchObject({ login: 'erin', cacheHit: false, passwordExpiresAt: SOON });
    expect(await auth.authenticate('erin', 'erin-pass', {})).toMatchObject({ cacheHit: true, passwordExpiresAt: SOON });
    expect(await auth.authenticate('alice', 'alice-pass', {})).not.toHaveProperty('passwordExpiresAt');
  });

  it('does not serve a cached login for another password', async () => {
    const { auth, calls } = setup();
    await auth.authenticate('alice', 'alice-pass', {});
    await expect(auth.authenticate('alice', 'guess', {})).rejects.toMatchObject({ sqlstate: '28P01' });
    expect(calls.directory).toBe(2);
  });

  it('remembers a wrong password briefly so retries do not reach the directory', async () => {
    const { auth, calls, now } = setup();
    for (let i = 0; i < 3; i++) await expect(auth.authenticate('alice', 'wrong', {})).rejects.toMatchObject({ sqlstate: '28P01' });
    expect(calls.directory).toBe(1);
    now.t += 6_000;
    await expect(auth.authenticate('alice', 'wrong', {})).rejects.toBeInstanceOf(ClientError);
    expect(calls.directory).toBe(2);
  });

  it('shares one directory check between concurrent attempts', async () => {
    const { auth, calls } = setup();
    const results = await Promise.all(Array.from({ length: 8 }, () => auth.authenticate('alice', 'alice-pass', {})));
    expect(results.every((r) => r.login === 'alice')).toBe(true);
    expect(calls).toMatchObject({ directory: 1, sync: 1 });
  });

  it('denies with 28000 and syncs nothing when no group is permitted', async () => {
    const { auth, calls } = setup();
    await expect(auth.authenticate('bob', 'bob-pass', {})).rejects.toMatchObject({ sqlstate: '28000' });
    expect(calls.sync).toBe(0);
  });

  it('refuses a directory user named like a protected role', async () => {
    const { auth, calls } = setup();
    await expect(auth.authenticate('postgres', 'pg-pass', {})).rejects.toMatchObject({ sqlstate: '28000' });
    expect(calls.sync).toBe(0);
  });

  it('rejects an empty password without asking the directory', async () => {
    const { auth, calls } = setup();
    await expect(auth.authenticate('alice', '', {})).rejects.toMatchObject({ sqlstate: '28P01' });
    expect(calls.directory).toBe(0);
  });

  it('forgets a login on request (upstream said 28P01 after a cache hit)', async () => {
    const { auth, calls } = setup();
    await auth.authenticate('alice', 'alice-pass', {});
    auth.forget('alice');
    expect((await auth.authenticate('alice', 'alice-pass', {})).cacheHit).toBe(false);
    expect(calls.directory).toBe(2);
  });
});
