import { X509Certificate } from 'node:crypto';
import { copyFileSync, existsSync, mkdirSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { BrokerConfigInput } from '../../src-main/broker/config.js';
import { trayMenuModel } from '../../src-main/electron/tray-model.js';
import type { AppContext } from '../../src-main/ipc/app-context.js';
import type { HandlerMap } from '../../src-main/ipc/handlers/index.js';
import type { WebBridge } from '../../src-main/ipc/web-bridge.js';
import { brokerEnv, newCredentialKey, prepareBrokerDatabase, startBrokerProcess, type BrokerProcess } from '../harness/broker.js';
import { startAppUnderTest, type AppUnderTest } from '../harness/app-under-test.js';
import { appPage, screenshot, SCREENSHOT_DIR, type BrowserSession } from '../harness/browser.js';
import { freePort, tempDir } from '../harness/ports.js';
import { startPostgres, type PgServer } from '../harness/postgres.js';
import { run, type RunResult } from '../harness/run.js';
import { attachSambaAd, type SambaDirectory } from '../harness/samba.js';
import { makeTestPki, type TestPki } from '../harness/tls.js';

/*
 * "Connect to your team" in real Chromium, through the web bridge, over the
 * real engine: the team broker as its own process (`rolecall broker`) with
 * the suite's Samba AD DC and PostgreSQL 18. A new user goes from an empty
 * app to psql through the broker typing only the broker's address and their
 * directory sign-in; then the broker profile's editor, the access check
 * through the broker, and Refresh from team after the broker's catalog changed.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');
const DOCS_SHOTS = path.join(ROOT, 'docs', 'screenshots');

const TESS = { login: 'tess', password: 'Tess-Pass-1x' }; // pg-team-hr and pg-team-sales
const UMA = { login: 'uma', password: 'Uma-Pass-1x' }; // in no permitted group; the wrong password test
const GROUPS = { 'pg-team-hr': 'pg-team-hr', 'pg-team-sales': 'pg-team-sales', 'pg-team-audit': 'pg-team-audit' };

let samba: SambaDirectory;
let pg: PgServer;
let pki: TestPki;
let dir: string;
let laptopDir: string;
let brokerConfig: BrokerConfigInput;
let brokerEnvironment: NodeJS.ProcessEnv;
let broker: BrokerProcess;
let app: AppUnderTest;
let ctx: AppContext;
let handlers: HandlerMap;
let bridge: WebBridge;
let session: BrowserSession;
let page: Page;
const expectAccessible = (what: string) => appPage(page).expectAccessible(what);
const goTo = (name: string) => appPage(page).goTo(name);
/** Holds the port the catalog suggests for "sales", as another program on the laptop would. */
let squatter: net.Server;
let squattedPort: number;
const ports: Record<string, number> = {};

function catalogEntry(id: string, suggestedLocalPort: number) {
  return {
    id,
    name: `${id.toUpperCase()} (PostgreSQL 18)`,
    host: '127.0.0.1',
    port: pg.port,
    database: id,
    sslmode: 'verify-full' as const,
    caFile: pg.pki.caFile,
    sessionDefaults: {},
    suggestedLocalPort,
    // Rolecall's registry lives in one database of the server.
    syncDatabase: 'hr',
  };
}

function psql(port: number, user: string, password: string, database: string, sql: string): Promise<RunResult> {
  return run('psql', ['-h', '127.0.0.1', '-p', String(port), '-U', user, '-d', database, '-X', '-v', 'ON_ERROR_STOP=1', '-tA', '-c', sql], {
    env: { PATH: process.env.PATH ?? '', PGPASSWORD: password, PGCONNECT_TIMEOUT: '10', PGAPPNAME: 'psql-team' },
  });
}

/** Every file the laptop side wrote (config, CA files, history, TLS), to scan for secrets. */
function laptopFiles(): string[] {
  const out: string[] = [];
  const walk = (d: string) => {
    for (const name of readdirSync(d)) {
      const f = path.join(d, name);
      if (statSync(f).isDirectory()) walk(f);
      else out.push(f);
    }
  };
  walk(laptopDir);
  return out;
}

beforeAll(async () => {
  samba = attachSambaAd(inject('samba'));
  dir = tempDir('e2e-team');
  laptopDir = path.join(dir, 'laptop');
  mkdirSync(laptopDir);
  mkdirSync(path.join(dir, 'pki'));
  pki = makeTestPki(path.join(dir, 'pki'));
  // The broker sends its whole chain, its CA included, as many servers do: the app can show that CA and offer to trust it.
  const chain = path.join(dir, 'pki', 'chain.pem');
  writeFileSync(chain, readFileSync(pki.certFile, 'utf8') + readFileSync(pki.caFile, 'utf8'));
  pg = await startPostgres({ version: 18 });

  await samba.createUser(TESS.login, TESS.password, 'Tess', 'Team');
  await samba.createUser(UMA.login, UMA.password, 'Uma', 'Team');
  for (const g of Object.keys(GROUPS)) await samba.addGroup(g);
  await samba.addMembers('pg-team-hr', [TESS.login]);
  await samba.addMembers('pg-team-sales', [TESS.login]);

  const brokerPassword = `Broker-${Math.random().toString(36).slice(2)}`;
  await prepareBrokerDatabase(pg, { database: 'hr', groups: GROUPS, brokerPassword });
  for (const db of ['sales', 'audit']) await pg.query(`CREATE DATABASE ${db}`);

  squatter = net.createServer();
  squattedPort = await freePort();
  await new Promise<void>((resolve) => squatter.listen(squattedPort, '127.0.0.1', resolve));
  brokerConfig = {
    version: 1,
    listen: { host: '127.0.0.1', port: await freePort(), tls: { certFile: chain, keyFile: pki.keyFile }, drainSeconds: 1 },
    directory: {
      kind: 'active-directory',
      url: samba.ldapsUrl,
      caFile: samba.pki.caFile,
      bindDn: samba.serviceLogin,
      baseDn: samba.baseDn,
      groupPrefix: 'pg-team-',
      timeoutMs: 3000,
    },
    databases: [catalogEntry('hr', await freePort()), catalogEntry('sales', squattedPort)],
    credentials: { windowSeconds: 3600, graceSeconds: 900 },
    throttle: { holdSeconds: 1 },
    rateLimit: { perAddressPerMinute: 1000 },
    sweep: { intervalSeconds: 0 },
  };
  brokerEnvironment = brokerEnv({ bindPassword: samba.servicePassword, syncPassword: brokerPassword, credentialKey: newCredentialKey() });
  broker = await startBrokerProcess(path.join(dir, 'broker.json'), brokerConfig, brokerEnvironment, pki.caFile);

  app = await startAppUnderTest(laptopDir);
  ({ ctx, handlers, bridge, session, page } = app);
}, 180_000);

afterAll(async () => {
  await app?.close();
  await broker?.stop();
  await new Promise((r) => squatter?.close(r));
  await pg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('Connect to your team, against the real broker, Samba AD and PostgreSQL 18', () => {
  it('starts from the empty app: the first step is the broker\'s address', async () => {
    await page.goto(`${bridge.openUrl}#/status`);
    await page.getByTestId('first-run').getByRole('link', { name: 'Connect to your team' }).click();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Connect to your team');
    expect(await page.getByRole('region', { name: 'Advanced' }).textContent()).toContain('Set up a database by hand');
    expect(await page.getByRole('region', { name: '2. Sign in' }).textContent()).toContain("Once the broker's certificate is trusted");
    await expectAccessible('connect to your team (empty)');
  });

  it('shows the broker\'s untrusted certificate (subject, SHA-256) and refuses to send a password until it is trusted', async () => {
    await page.getByLabel('Broker address').fill(broker.url);
    await page.getByRole('button', { name: 'Check the broker' }).click();
    const untrusted = page.getByTestId('untrusted');
    await untrusted.waitFor();
    expect(await untrusted.textContent()).toContain('Rolecall does not trust this certificate yet');
    expect(await untrusted.textContent()).toMatch(/self[- ]signed certificate in certificate chain/);
    const card = page.getByTestId('trust-certificate');
    expect(await card.textContent()).toContain('CN=Rolecall Test CA');
    expect(await card.getByTestId('fingerprint').textContent()).toBe(new X509Certificate(readFileSync(pki.caFile)).fingerprint256);
    expect(await page.getByRole('button', { name: 'Trust this certificate' }).isVisible()).toBe(true);
    // No sign-in form yet.
    expect(await page.getByLabel('Your directory password').count()).toBe(0);
    await screenshot(page, 'connect-team-trust');
    await expectAccessible('connect to your team (untrusted certificate)');

    // The engine refuses too: without the CA, no request (and so no password) reaches the broker.
    const refused = await handlers['team.catalog']({ broker: { urls: [broker.url] }, login: TESS.login, password: TESS.password });
    expect(refused).toMatchObject({ ok: false, error: { code: 'unavailable', detail: '08006', message: expect.stringContaining("the team broker's certificate at") } });
    expect(broker.stderr()).not.toContain('/v1/catalog');
    expect(existsSync(path.join(laptopDir, 'ca'))).toBe(false);
  });

  it('trusts the certificate shown, and only that one, beside the config', async () => {
    await page.getByRole('button', { name: 'Trust this certificate' }).click();
    await expect.poll(() => page.getByTestId('trusted').textContent()).toContain('Trusted.');
    const stored = path.join(laptopDir, 'ca', 'broker-127.0.0.1.pem');
    expect(new X509Certificate(readFileSync(stored)).fingerprint256).toBe(new X509Certificate(readFileSync(pki.caFile)).fingerprint256);
    // A fingerprint the broker does not present is refused.
    const other = await handlers['team.trust']({ url: broker.url, fingerprint256: new X509Certificate(readFileSync(pki.otherCaFile)).fingerprint256 });
    expect(other).toMatchObject({ ok: false, error: { code: 'refused', message: expect.stringContaining('now presents another certificate') } });
    await page.getByLabel('Your directory password').waitFor();
  });

  it('a wrong directory password gives the directory\'s answer and stores nothing', async () => {
    await page.getByLabel('Your directory login').fill(UMA.login);
    await page.getByLabel('Your directory password').fill('Not-Her-Password-1');
    await page.getByRole('button', { name: 'Sign in' }).click();
    const result = page.getByTestId('team-result');
    await expect.poll(() => result.textContent(), { timeout: 20_000 }).toContain(`password authentication failed for user "${UMA.login}"`);
    expect(await result.textContent()).toContain('(28P01)');
    expect(await page.getByLabel('Your directory password').inputValue()).toBe('');
    expect(await page.getByTestId('catalog').count()).toBe(0);
    // Nothing was written: no profile, and the password nowhere on disk.
    expect(existsSync(ctx.configPath)).toBe(false);
    for (const f of laptopFiles()) expect(readFileSync(f, 'utf8'), f).not.toContain('Not-Her-Password-1');
  });

  it('signs in, lists the catalog with suggested ports (a taken one replaced by the next free), and adds two databases', async () => {
    await page.getByLabel('Your directory login').fill(TESS.login);
    await page.getByLabel('Your directory password').fill(TESS.password);
    await page.getByRole('button', { name: 'Sign in' }).click();
    const rows = page.getByTestId('catalog-row');
    await expect.poll(() => rows.count(), { timeout: 20_000 }).toBe(2);
    const sales = rows.filter({ hasText: 'SALES' });
    const salesPort = Number(await sales.getByLabel('Local port for sales').inputValue());
    expect(salesPort).not.toBe(squattedPort);
    expect(await sales.getByTestId('suggested-taken').textContent()).toMatch(new RegExp(`^The suggested port ${squattedPort} is taken by .+: ${salesPort} is offered instead\\.$`));
    await expect.poll(() => page.locator('#port-sales-msg').textContent()).toContain('is free');
    const hrPort = Number(await rows.filter({ hasText: 'HR' }).getByLabel('Local port for hr').inputValue());
    expect(hrPort).toBe(brokerConfig.databases[0]!.suggestedLocalPort);
    expect(await page.getByRole('checkbox', { name: 'Add HR (PostgreSQL 18)' }).isChecked()).toBe(true);
    expect(await page.getByRole('checkbox', { name: 'Add SALES (PostgreSQL 18)' }).isChecked()).toBe(true);
    await screenshot(page, 'connect-team-catalog');
    await expectAccessible('connect to your team (catalog)');

    await page.getByRole('button', { name: 'Add 2 databases' }).click();
    await expect.poll(() => page.getByTestId('catalog-added').textContent()).toContain(`hr (added on port ${hrPort}), sales (added on port ${salesPort})`);
    ports.hr = hrPort;
    ports.sales = salesPort;
    // Only now, over the verified connection, did the broker see a catalog request.
    expect(broker.stderr()).toContain('"url":"/v1/catalog"');
    const config = JSON.parse(readFileSync(ctx.configPath, 'utf8')) as { profiles: { id: string; mode: string; broker: { urls: string[]; caFile: string } }[] };
    expect(config.profiles.map((p) => [p.id, p.mode, p.broker.urls, p.broker.caFile])).toEqual([
      ['hr', 'broker', [broker.url], path.join(laptopDir, 'ca', 'broker-127.0.0.1.pem')],
      ['sales', 'broker', [broker.url], path.join(laptopDir, 'ca', 'broker-127.0.0.1.pem')],
    ]);
    // The databases' CA bundles from the catalog, beside the config.
    expect(readFileSync(path.join(laptopDir, 'ca', 'hr.pem'), 'utf8')).toBe(readFileSync(pg.pki.caFile, 'utf8'));
  });

  it('starts them, and psql signs in through one with no setting typed', async () => {
    await page.getByRole('button', { name: 'Start them now' }).click();
    await expect.poll(() => page.locator('.started').textContent(), { timeout: 20_000 }).toContain(`hr: running on 127.0.0.1:${ports.hr}`);
    expect(await page.locator('.started').textContent()).toContain(`sales: running on 127.0.0.1:${ports.sales}`);
    await page.getByRole('link', { name: 'Go to Status' }).click();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Status');

    const card = page.locator('[data-profile="hr"]');
    const held = psql(ports.hr!, TESS.login, TESS.password, 'hr', "SELECT pg_sleep(3); SELECT current_user || ' ' || pg_has_role('pg-team-hr', 'member')");
    await card.getByTestId('session-row').filter({ hasText: TESS.login }).waitFor({ timeout: 20_000 });
    // The status says when tess's database password expires, and that it renews itself.
    const credential = card.getByTestId('broker-credential');
    await credential.waitFor({ timeout: 10_000 });
    const text = (await credential.textContent()) ?? '';
    expect(text).toContain(TESS.login);
    expect(text).toMatch(/database password valid until \d{1,2}:\d{2}/);
    expect(text).toContain('renews itself');
    const until = ctx.service.statusOf('hr')?.brokerCredentials?.[0];
    expect(until).toMatchObject({ login: TESS.login });
    expect(Date.parse(until!.validUntil)).toBeGreaterThan(Date.now());
    await screenshot(page, 'status-team');
    await expectAccessible('status (team)');
    const done = await held;
    expect(done.stderr).toBe('');
    expect(done.stdout.trim().split('\n').pop()).toBe(`${TESS.login} true`);
  });

  it('lists the sign-in through the broker in the history', async () => {
    await goTo('History');
    const row = page.getByTestId('history-row').filter({ hasText: TESS.login });
    await row.first().waitFor({ timeout: 10_000 });
    expect(await row.first().textContent()).toContain('success');
    expect(await row.first().textContent()).toContain('hr');
  });

  it('edits the broker profile (no secret field), and a change while psql is connected offers Restart to apply in the tray', async () => {
    await goTo('Status');
    const card = page.locator('[data-profile="hr"]');
    const held = psql(ports.hr!, TESS.login, TESS.password, 'hr', 'SELECT pg_sleep(6); SELECT 1');
    await card.getByTestId('session-row').filter({ hasText: TESS.login }).waitFor({ timeout: 20_000 });
    await card.getByRole('link', { name: 'Edit' }).click();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Profile: HR (PostgreSQL 18)');
    expect(await page.getByLabel('Broker URLs').inputValue()).toBe(broker.url);
    expect(await page.locator('#secret-ldap-bind, #secret-sync').count()).toBe(0);
    await page.getByLabel('Session defaults').fill('default_transaction_read_only=on');
    await page.getByRole('button', { name: 'Save profile' }).first().click();
    await expect
      .poll(() => page.getByRole('status').filter({ hasText: '1 connection is open on the running proxy: it keeps the old settings' }).count())
      .toBe(1);
    await screenshot(page, 'broker-profile-editor');
    await expectAccessible('broker profile editor');

    // The tray, from the engine's own state: a Restart to apply item under the profile.
    const listed = await handlers['profiles.list']({});
    if (!listed.ok) throw new Error(listed.error.message);
    const menu = trayMenuModel({ profiles: listed.value, statuses: ctx.service.status(), launchAtLogin: false });
    const restart = menu.find((i) => i.kind === 'action' && i.action.type === 'restart');
    expect(restart).toEqual({ kind: 'action', label: '    Restart to apply (HR (PostgreSQL 18))', action: { type: 'restart', profileId: 'hr' }, enabled: true });
    expect((await held).code).toBe(0);

    await page.getByRole('button', { name: 'Restart now' }).click();
    await expect.poll(() => page.getByRole('status').textContent(), { timeout: 20_000 }).toContain('now uses the saved settings');
    const r = await psql(ports.hr!, TESS.login, TESS.password, 'hr', 'SHOW default_transaction_read_only');
    expect(r.stdout.trim()).toBe('on');
  });

  it('explains access through the broker: the caller\'s password first, then another login', async () => {
    await goTo('Access check');
    await page.getByLabel('Profile', { exact: true }).selectOption('hr');
    await page.getByLabel('Your login').fill(TESS.login);
    await page.getByLabel('Your password').fill(TESS.password);
    await page.getByRole('button', { name: 'Check access' }).click();
    const result = page.getByTestId('access-result');
    await expect.poll(() => result.textContent(), { timeout: 20_000 }).toContain('Access granted');
    expect(await result.textContent()).toContain('pg-team-hr');
    expect(await page.getByLabel('Your password').inputValue()).toBe('');
    await screenshot(page, 'access-check-team');
    await expectAccessible('access check (team)');

    await page.getByLabel('Your password').fill(TESS.password);
    await page.getByLabel('Explain another login (optional)').fill(UMA.login);
    await page.getByRole('button', { name: 'Check access' }).click();
    await expect.poll(() => result.textContent(), { timeout: 20_000 }).toContain('No access');
    expect(await result.textContent()).toContain(`${UMA.login} would be denied: is in`);
  });

  it('refreshes from the team after the broker added a database and stopped serving one', async () => {
    // The team changes its catalog: "audit" in, "sales" out; the broker restarts on the same address.
    await broker.stop();
    brokerConfig = { ...brokerConfig, databases: [brokerConfig.databases[0]!, catalogEntry('audit', await freePort())] };
    broker = await startBrokerProcess(path.join(dir, 'broker.json'), brokerConfig, brokerEnvironment, pki.caFile);

    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'HR (PostgreSQL 18)' }).click();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Profile: HR (PostgreSQL 18)');
    await page.getByLabel('Your directory login').fill(TESS.login);
    await page.getByLabel('Your directory password').fill(TESS.password);
    await page.getByRole('button', { name: 'Refresh from team' }).click();
    const rows = page.getByTestId('catalog-row');
    await expect.poll(() => rows.count(), { timeout: 20_000 }).toBe(2);
    expect(await rows.filter({ hasText: 'AUDIT' }).textContent()).toContain('New');
    expect(await rows.filter({ hasText: 'HR' }).textContent()).toContain('Added already');
    expect(await page.getByTestId('catalog-gone').textContent()).toContain('SALES (PostgreSQL 18) (database "sales")');
    await screenshot(page, 'refresh-from-team');
    await expectAccessible('refresh from team');

    await page.getByRole('button', { name: 'Add 1 database' }).click();
    await expect.poll(() => page.getByTestId('catalog-added').textContent()).toMatch(/audit \(added on port \d+\)/);
    const listed = await handlers['profiles.list']({});
    expect(listed.ok && listed.value.map((p) => p.id)).toEqual(['hr', 'sales', 'audit']);
  });

  it('kept no password anywhere on the laptop, and ran under the strict CSP', () => {
    for (const f of laptopFiles()) {
      const text = readFileSync(f, 'latin1');
      for (const secret of [TESS.password, samba.servicePassword]) expect(text, f).not.toContain(secret);
    }
    expect(session.cspViolations).toEqual([]);
    expect(session.errors).toEqual([]);
    mkdirSync(DOCS_SHOTS, { recursive: true });
    for (const name of ['connect-team-trust', 'connect-team-catalog', 'status-team']) {
      const from = path.join(SCREENSHOT_DIR, `${name}.png`);
      expect(existsSync(from)).toBe(true);
      copyFileSync(from, path.join(DOCS_SHOTS, `${name}.png`));
    }
  });
});
