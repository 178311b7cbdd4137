import { X509Certificate } from 'node:crypto';
import { mkdirSync, readFileSync, statSync } from 'node:fs';
import https from 'node:https';
import net from 'node:net';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CatalogEntry } from '../../src-main/core/broker-api/schema.js';
import { keepCatalog } from '../../src-main/ipc/handlers/team-catalogs.js';
import { freePort } from '../harness/ports.js';
import { makeTestPki } from '../harness/tls.js';
import { ipcFixture, sampleProfile, type IpcFixture } from './ipc-fixture.js';

// team.add over a catalog answer the main process kept (team.catalog, against the real broker, is
// driven by the browser suite): broker profiles on the chosen ports, CA files beside the config,
// every port problem named on its row, nothing written when one is wrong.

let f: IpcFixture;
beforeEach(async () => {
  f = await ipcFixture();
});
afterEach(async () => {
  await f.close();
});

async function entry(id: string, extra: Partial<CatalogEntry> = {}): Promise<CatalogEntry> {
  return {
    id,
    name: `${id} database`,
    host: 'db.corp.test',
    port: 5432,
    database: id,
    sslmode: 'verify-full',
    caPem: `-----BEGIN CERTIFICATE-----\n${id}\n-----END CERTIFICATE-----\n`,
    sessionDefaults: {},
    suggestedLocalPort: await freePort(),
    ...extra,
  };
}

function catalog(entries: CatalogEntry[]): string {
  return keepCatalog(f.ctx, { entries, brokerUrls: ['https://broker.corp.test'], brokerCaFile: path.join(f.dir, 'ca', 'broker-broker.corp.test.pem') });
}

describe('team.add', () => {
  it('makes broker profiles on the chosen ports, with the databases\' CA files beside the config', async () => {
    const [hr, sales] = [await entry('hr'), await entry('sales', { caPem: undefined })];
    const port = await freePort();
    const id = catalog([hr, sales]);
    const r = await f.ok('team.add', { catalogId: id, databases: [{ id: 'hr', port }, { id: 'sales', port: sales.suggestedLocalPort }] });
    expect(r.profiles).toEqual([
      { id: 'hr', status: 'new', port, applied: { outcome: 'not-running' } },
      { id: 'sales', status: 'new', port: sales.suggestedLocalPort, applied: { outcome: 'not-running' } },
    ]);
    const saved = await f.ok('profiles.get', { id: 'hr' });
    expect(saved).toMatchObject({
      mode: 'broker',
      broker: { urls: ['https://broker.corp.test'], caFile: path.join(f.dir, 'ca', 'broker-broker.corp.test.pem'), database: 'hr' },
      database: { host: 'db.corp.test', database: 'hr', caFile: path.join(f.dir, 'ca', 'hr.pem') },
      listen: { host: '127.0.0.1', port },
    });
    expect(readFileSync(path.join(f.dir, 'ca', 'hr.pem'), 'utf8')).toBe(hr.caPem);
    expect(statSync(path.join(f.dir, 'ca', 'hr.pem')).mode & 0o777).toBe(0o644);

    // Adding it again refreshes it from the catalog and keeps its port.
    const again = catalog([{ ...hr, host: 'db2.corp.test' }]);
    expect((await f.ok('team.add', { catalogId: again, databases: [{ id: 'hr', port: 15999 }] })).profiles).toEqual([
      { id: 'hr', status: 'updated', port, applied: { outcome: 'not-running' } },
    ]);
    expect(await f.ok('profiles.get', { id: 'hr' })).toMatchObject({ database: { host: 'db2.corp.test' }, listen: { port } });
  });

  it('names the row of a port another profile uses, one chosen twice, or one another program holds, and saves nothing', async () => {
    const direct = await sampleProfile('app');
    await f.ok('profiles.save', { profile: direct });
    const id = catalog([await entry('hr'), await entry('sales')]);
    const used = await f.fail('team.add', { catalogId: id, databases: [{ id: 'hr', port: direct.listen.port }] });
    expect(used).toMatchObject({ code: 'invalid', fields: [{ path: 'databases.0.port', message: 'used by profile "app"' }] });
    const port = await freePort();
    const twice = await f.fail('team.add', { catalogId: id, databases: [{ id: 'hr', port }, { id: 'sales', port }] });
    expect(twice).toMatchObject({ fields: [{ path: 'databases.0.port', message: 'also chosen for "sales"' }] });
    const holder = net.createServer();
    await new Promise<void>((resolve) => holder.listen(port, '127.0.0.1', resolve));
    try {
      const held = await f.fail('team.add', { catalogId: id, databases: [{ id: 'sales', port }] });
      expect(held).toMatchObject({ code: 'invalid', fields: [{ path: 'databases.0.port', message: expect.stringMatching(new RegExp(`^port ${port} is taken`)) }] });
    } finally {
      await new Promise((r) => holder.close(r));
    }
    expect((await f.ok('profiles.list', {})).map((p) => p.id)).toEqual(['app']);
  });

  it('refuses a catalog id that is unknown or gone, a database not in it, and one that a hand-made profile already has', async () => {
    expect(await f.fail('team.add', { catalogId: 'nope', databases: [{ id: 'hr', port: 15432 }] })).toMatchObject({
      code: 'not-found',
      message: expect.stringContaining('sign in to the broker again'),
    });
    await f.ok('profiles.save', { profile: await sampleProfile('hr') });
    const id = catalog([await entry('hr')]);
    expect(await f.fail('team.add', { catalogId: id, databases: [{ id: 'audit', port: 15432 }] })).toMatchObject({ fields: [{ path: 'databases.0.id' }] });
    expect(await f.fail('team.add', { catalogId: id, databases: [{ id: 'hr', port: 15432 }] })).toMatchObject({
      code: 'conflict',
      message: expect.stringContaining('already exists as a profile set up by hand'),
    });
  });
});

describe('team.inspect, team.catalog', () => {
  it('want an https broker URL and a readable CA file, named by field', async () => {
    expect(await f.fail('team.inspect', { url: 'http://broker.corp.test' })).toMatchObject({ code: 'invalid', fields: [{ path: 'url' }] });
    expect(await f.fail('team.inspect', { url: 'https://127.0.0.1:1', caFile: path.join(f.dir, 'missing.pem') })).toMatchObject({ fields: [{ path: 'caFile' }] });
    expect(await f.fail('team.catalog', { broker: { urls: ['ftp://x'] }, login: 'alice', password: 'x' })).toMatchObject({ fields: [{ path: 'broker.urls.0' }] });
    await f.ok('profiles.save', { profile: await sampleProfile('app') });
    expect(await f.fail('team.catalog', { broker: { profileId: 'app' }, login: 'alice', password: 'x' })).toMatchObject({
      code: 'invalid',
      message: expect.stringContaining('has no team broker to refresh from'),
    });
  });
});

describe('team.inspect and team.trust with the team\'s CA file', () => {
  it('show a broker that sends only its own certificate as untrustable until the CA file is given, then store that file', async () => {
    mkdirSync(path.join(f.dir, 'pki'));
    const pki = makeTestPki(path.join(f.dir, 'pki'));
    const server = https.createServer({ cert: readFileSync(pki.certFile), key: readFileSync(pki.keyFile) });
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    const url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}`;
    try {
      const alone = await f.ok('team.inspect', { url });
      expect(alone).toMatchObject({ verified: false, verifiedBy: null, trustable: null, caFile: null, problem: expect.stringContaining('UNABLE_TO_VERIFY_LEAF_SIGNATURE') });
      expect(alone.chain.map((c) => c.subject)).toEqual(['CN=localhost']);

      const withCa = await f.ok('team.inspect', { url, caFile: pki.caFile });
      const ca = new X509Certificate(readFileSync(pki.caFile)).fingerprint256;
      expect(withCa).toMatchObject({ verified: true, verifiedBy: 'ca-file', problem: null, trustable: { subject: 'CN=Rolecall Test CA', fingerprint256: ca } });
      // Another CA file is not one that vouches for it: nothing to trust.
      expect(await f.ok('team.inspect', { url, caFile: pki.otherCaFile })).toMatchObject({ verified: false, trustable: null });

      expect(await f.fail('team.trust', { url, caFile: pki.caFile, fingerprint256: new X509Certificate(readFileSync(pki.otherCaFile)).fingerprint256 })).toMatchObject({
        code: 'invalid',
        fields: [{ path: 'caFile' }],
      });
      const trusted = await f.ok('team.trust', { url, caFile: pki.caFile, fingerprint256: ca });
      expect(trusted.caFile).toBe(path.join(f.dir, 'ca', 'broker-127.0.0.1.pem'));
      expect(readFileSync(trusted.caFile, 'utf8')).toBe(readFileSync(pki.caFile, 'utf8'));
      // Without the file, the broker's own chain offers nothing to trust: refused, nothing else stored.
      expect(await f.fail('team.trust', { url, fingerprint256: ca })).toMatchObject({ code: 'refused', message: expect.stringContaining('now presents another certificate') });
    } finally {
      server.close();
    }
  });
});
