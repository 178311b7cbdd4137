import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { BrokerProfileInput } from '../../src-main/core/profiles/schema.js';
import { SecretStoreError, type SecretStore } from '../../src-main/core/secrets/secret-store.js';
import { freePort } from '../harness/ports.js';
import { ipcFixture, sampleProfile, type IpcFixture } from './ipc-fixture.js';

// The desktop app with broker profiles in its config: listed and shown as
// they are, started like any other, and everything that would put a secret
// for them on this machine refused with where it happens instead.

let f: IpcFixture;
beforeEach(async () => {
  f = await ipcFixture();
});
afterEach(async () => {
  await f.close();
});

async function brokerProfile(id = 'team'): Promise<BrokerProfileInput> {
  return {
    mode: 'broker',
    id,
    name: `Team ${id}`,
    broker: { urls: ['https://127.0.0.1:1'], database: 'hr', connectTimeoutMs: 200, timeoutMs: 500 },
    database: { host: '127.0.0.1', port: 1, database: 'hr', sslmode: 'disable', connectTimeoutMs: 500 },
    listen: { port: await freePort() },
  };
}

describe('broker profiles over IPC', () => {
  it('are saved, listed with their mode and broker URLs, and never cost a keychain lookup', async () => {
    let lookups = 0;
    const counting: SecretStore = {
      describe: () => 'counting',
      get: async () => (lookups++, null),
      has: async () => (lookups++, false),
      set: async () => undefined,
      delete: async () => false,
    } as unknown as SecretStore;
    const g = await ipcFixture({ secrets: counting });
    try {
      await g.ok('profiles.save', { profile: await brokerProfile() });
      await g.ok('profiles.save', { profile: await sampleProfile() });
      lookups = 0;
      expect(await g.ok('profiles.list', {})).toEqual([
        expect.objectContaining({ id: 'team', mode: 'broker', brokerUrls: ['https://127.0.0.1:1'], directoryUrl: '', directoryServers: '', secrets: { ldapBind: false, sync: false } }),
        expect.objectContaining({ id: 'app', mode: 'direct', brokerUrls: [], directoryUrl: 'ldap://127.0.0.1:1', directoryServers: 'ldap://127.0.0.1:1' }),
      ]);
      expect(lookups).toBe(2); // the direct profile's two flags only
    } finally {
      await g.close();
    }
  });

  it('start and stop without any secret, and say which mode they run in', async () => {
    await f.ok('profiles.save', { profile: await brokerProfile() });
    expect(await f.ok('proxies.start', { id: 'team' })).toMatchObject({ state: 'running', mode: 'broker' });
    expect(await f.ok('proxies.stop', { id: 'team' })).toMatchObject({ state: 'stopped' });
  });

  it('refuse a secret and a sync login, naming the broker', async () => {
    await f.ok('profiles.save', { profile: await brokerProfile() });
    for (const [channel, request] of [
      ['secrets.set', { profileId: 'team', name: 'sync', value: 'x' }],
      ['setup.createSyncLogin', { profileId: 'team', adminUser: 'postgres', adminPassword: 'x' }],
    ] as const) {
      const error = await f.fail(channel, request);
      expect(error, channel).toMatchObject({ code: 'refused', message: expect.stringContaining('signs in through the team broker') });
    }
    expect(await f.secrets.get('team', 'sync')).toBeNull();
  });

  it('ask the broker for the access check, which needs the caller\'s own password', async () => {
    await f.ok('profiles.save', { profile: await brokerProfile() });
    const noPassword = await f.fail('diagnostics.accessCheck', { profileId: 'team', login: 'alice' });
    expect(noPassword).toMatchObject({ code: 'invalid', fields: [{ path: 'password', message: expect.stringContaining('the team broker checks your own password') }] });
    // Nothing listens on the broker's URL: the broker's client said so, as a client of the proxy would hear it.
    const down = await f.fail('diagnostics.accessCheck', { profileId: 'team', login: 'alice', password: 'x' });
    expect(down).toMatchObject({ code: 'unavailable', detail: '57P03', message: expect.stringContaining('the team broker at https://127.0.0.1:1 is not reachable') });
  });

  it('test their database without a sync login: connect and TLS only', async () => {
    const p = await brokerProfile();
    const r = await f.ok('diagnostics.testDatabase', { profile: p });
    expect(r.steps.map((s) => [s.step, s.ok])).toEqual([['connect', false]]);
    const invalid = await f.fail('diagnostics.testDatabase', { profile: { ...p, database: { ...p.database, syncUser: 'rolecall_sync' } } });
    expect(invalid.code).toBe('invalid');
  });

  it('keep a keychain failure from hiding them', async () => {
    const broken = { describe: () => 'broken', get: async () => { throw new SecretStoreError('unavailable', 'the keychain is locked'); }, has: async () => { throw new SecretStoreError('unavailable', 'the keychain is locked'); } } as unknown as SecretStore;
    const g = await ipcFixture({ secrets: broken });
    try {
      await g.ok('profiles.save', { profile: await brokerProfile() });
      expect(await g.ok('profiles.list', {})).toEqual([expect.objectContaining({ id: 'team', mode: 'broker' })]);
      expect(await g.ok('proxies.start', { id: 'team' })).toMatchObject({ state: 'running' });
    } finally {
      await g.close();
    }
  });
});
