import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { channels, type Channel, type Request } from '../../src-main/ipc/contract.js';
import { ipcFixture, sampleProfile, type IpcFixture } from './ipc-fixture.js';

/*
 * Secret values travel renderer → main only. This calls every channel of the
 * contract (successes and failures) with secrets stored, and checks that no
 * answer and no log line contains any of them.
 */
const BIND = 'Bind-Secret-7f3a91';
const SYNC = 'Sync-Secret-c02e55';
const ADMIN = 'Admin-Secret-9d41b8';
const USER = 'User-Secret-1e77aa';

let f: IpcFixture;
let requests: { [C in Channel]: Request<C> };

beforeAll(async () => {
  f = await ipcFixture();
  const profile = await sampleProfile();
  const r = await f.call('profiles.save', { profile });
  if (!r.ok) throw new Error(JSON.stringify(r.error));
  const saved = r.value;
  // Every channel listed: the type makes this fail to compile when the contract grows.
  requests = {
    'secrets.set': { profileId: 'app', name: 'ldap-bind', value: BIND },
    'profiles.list': {},
    'profiles.get': { id: 'app' },
    'profiles.save': { profile: saved, previousId: 'app' },
    'profiles.validate': { profile: saved },
    'profiles.duplicate': { id: 'app', newId: 'app-two' },
    'profiles.export': {},
    'profiles.import': { json: JSON.stringify({ ...saved, id: 'imported', listen: { port: saved.listen.port + 7 } }) },
    'secrets.has': { profileId: 'app' },
    'proxies.start': { id: 'app' },
    'proxies.status': {},
    'proxies.restart': { id: 'app' },
    'diagnostics.testDirectory': { profile: saved, login: 'alice', password: USER },
    'diagnostics.testDatabase': { profile: saved },
    'diagnostics.accessCheck': { profileId: 'app', login: 'alice', password: USER },
    'setup.installSql': {},
    'setup.install': { profileId: 'app', adminUser: 'postgres', adminPassword: ADMIN },
    'setup.createSyncLogin': { profileId: 'app', adminUser: 'postgres', adminPassword: ADMIN },
    'history.query': {},
    'history.summary': { since: Date.now() - 3_600_000, bucketMs: 60_000 },
    'history.exportCsv': {},
    'history.clear': {},
    'settings.get': {},
    'settings.set': { settings: { historyRetentionDays: 30 } },
    'clients.strings': { profileId: 'app', login: 'alice' },
    'clients.writePgService': { profileId: 'app', login: 'alice' },
    'clients.checkPort': { port: saved.listen.port },
    'app.info': {},
    // Team channels against a broker that is not there: the typed password must not come back in the failure.
    'team.inspect': { url: 'https://127.0.0.1:1' },
    'team.trust': { url: 'https://127.0.0.1:1', fingerprint256: Array(32).fill('AB').join(':') },
    'team.catalog': { broker: { urls: ['https://127.0.0.1:1'] }, login: 'alice', password: USER },
    'team.add': { catalogId: 'unknown', databases: [{ id: 'hr', port: 15432 }] },
    'proxies.stop': { id: 'app' },
    'secrets.delete': { profileId: 'app-two', name: 'sync' },
    'profiles.delete': { id: 'app-two' },
  };
  await f.secrets.set('app', 'sync', SYNC);
});

afterAll(async () => {
  await f.close();
});

describe('no channel returns a secret', () => {
  it('covers the whole contract', () => {
    expect(Object.keys(requests).sort()).toEqual([...channels].sort());
  });

  it('answers of every channel (and the log) never contain a stored or typed secret', async () => {
    const answers: string[] = [];
    for (const channel of Object.keys(requests) as Channel[]) {
      const result = await f.call(channel, requests[channel]);
      answers.push(`${channel}: ${JSON.stringify(result)}`);
    }
    // The calls really ran with the secrets in place (not all refused up front).
    expect(answers.find((a) => a.startsWith('proxies.start'))).toContain('"state":"running"');
    expect(answers.find((a) => a.startsWith('proxies.restart'))).toContain('"state":"running"');
    expect(answers.find((a) => a.startsWith('secrets.has'))).toContain('"ldapBind":true');
    expect(answers.find((a) => a.startsWith('diagnostics.testDirectory'))).toContain('"ok":true');
    const all = answers.join('\n');
    for (const secret of [BIND, SYNC, ADMIN, USER]) {
      expect(all).not.toContain(secret);
      expect(f.logText()).not.toContain(secret);
    }
    // The duplicate got copies of the secrets (kept in the store, not shown).
    expect(await f.secrets.get('app-two', 'ldap-bind')).toBe(null); // deleted with its profile
  });
});
