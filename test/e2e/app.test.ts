import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, inject, it } from 'vitest';
import type { Page } from 'playwright-core';
import type { AppContext } from '../../src-main/ipc/app-context.js';
import type { WebBridge } from '../../src-main/ipc/web-bridge.js';
import { startPostgres, type PgServer } from '../harness/postgres.js';
import { attachSambaAd, type SambaDirectory } from '../harness/samba.js';
import { freePort, tempDir } from '../harness/ports.js';
import { run, type RunResult } from '../harness/run.js';
import { tlsAfterSslRequest } from '../harness/pg-wire.js';
import { startAppUnderTest, RENDERER_DIST as DIST, type AppUnderTest } from '../harness/app-under-test.js';
import { appPage, screenshot, seriousViolations, SCREENSHOT_DIR, type BrowserSession } from '../harness/browser.js';

/*
 * The desktop app's renderer in real Chromium, through the web bridge, over
 * the real engine: PostgreSQL 18 and a Samba AD domain controller. One user's
 * path from an empty app to a connection in the history, page by page.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');
const DOCS_SHOTS = path.join(ROOT, 'docs', 'screenshots');

const ALICE = { login: 'alice', password: 'Alice-Pass-1x' }; // pg-app-data directly, pg-app-read through team-analysts
const BOB = { login: 'bob', password: 'Bob-Pass-1x' }; // only "staff": no permitted group
const CARL = { login: 'carl', password: 'Carl-Pass-1x' }; // pg-app-data, under a two-day password policy
const PROFILE_ID = 'app-samba-ad';

let pg: PgServer;
let samba: SambaDirectory;
let app: AppUnderTest;
let ctx: AppContext;
let bridge: WebBridge;
let session: BrowserSession;
let page: Page;
let dir: string;
let proxyPort: number;

function psql(user: string, password: string, sql: string): Promise<RunResult> {
  return run('psql', ['-h', '127.0.0.1', '-p', String(proxyPort), '-U', user, '-d', 'app', '-X', '-v', 'ON_ERROR_STOP=1', '-tA', '-c', sql], {
    env: { PATH: process.env.PATH ?? '', PGPASSWORD: password, PGCONNECT_TIMEOUT: '10', PGAPPNAME: 'psql-e2e' },
  });
}

async function go(hash: string): Promise<void> {
  await page.goto(`${bridge.openUrl}${hash}`);
  await page.locator('h1').first().waitFor();
}

const ui = () => appPage(page);
const expectAccessible = (what: string) => ui().expectAccessible(what);
const nav = (name: string) => ui().nav(name);
const goTo = (name: string) => ui().goTo(name);

beforeAll(async () => {
  // The suite's one Samba AD DC (test/e2e/global-setup.ts); these users and groups are this file's.
  samba = attachSambaAd(inject('samba'));
  pg = await startPostgres({ version: 18 });
  await pg.query('CREATE DATABASE app');
  await samba.createUser(ALICE.login, ALICE.password, 'Alice', 'Example');
  await samba.createUser(BOB.login, BOB.password, 'Bob', 'Example');
  for (const g of ['pg-app-read', 'pg-app-data', 'team-analysts', 'staff']) await samba.addGroup(g);
  await samba.addMembers('team-analysts', [ALICE.login]);
  await samba.addMembers('pg-app-read', ['team-analysts']);
  await samba.addMembers('pg-app-data', [ALICE.login]);
  await samba.addMembers('staff', [BOB.login]);
  await samba.createUser(CARL.login, CARL.password, 'Carl', 'Example');
  await samba.addMembers('pg-app-data', [CARL.login]);
  await samba.sambaTool(['domain', 'passwordsettings', 'pso', 'create', 'two-days', '1', '--max-pwd-age=2']);
  await samba.sambaTool(['domain', 'passwordsettings', 'pso', 'apply', 'two-days', CARL.login]);

  dir = tempDir('e2e');
  app = await startAppUnderTest(dir);
  ({ ctx, bridge, session, page } = app);
}, 180_000);

afterAll(async () => {
  await app?.close();
  await pg?.stop();
  if (dir) rmSync(dir, { recursive: true, force: true });
});

describe('Rolecall in the browser, against PostgreSQL 18 and Samba AD', () => {
  it('starts empty and offers the team broker first, setting a database up by hand under Advanced', async () => {
    await go('#/status');
    await expect.poll(() => page.getByText('No profiles yet').isVisible()).toBe(true);
    const firstRun = page.getByTestId('first-run');
    expect(await firstRun.getByRole('link', { name: 'Connect to your team' }).getAttribute('class')).toContain('primary');
    const advanced = firstRun.getByRole('region', { name: 'Advanced' });
    expect((await advanced.textContent())?.replace(/\s+/g, ' ')).toContain("this machine holds the directory service account's password and the database's sync password");
    await expectAccessible('status (empty)');
    await screenshot(page, 'first-run');
    await advanced.getByRole('link', { name: 'Set up a database by hand' }).click();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('New profile');
  });

  it('creates a profile from the Active Directory preset, with inline validation and a port check', async () => {
    expect(await page.getByRole('radio', { name: 'Active Directory' }).isChecked()).toBe(true);
    expect(await page.getByLabel('Login attribute').inputValue()).toBe('sAMAccountName');

    await page.getByLabel('Name', { exact: true }).fill('App (Samba AD)');
    expect(await page.getByLabel('Profile id').inputValue()).toBe(PROFILE_ID);

    // A wrong URL is named next to its field once the field is left.
    const url = page.getByLabel('Server URL');
    await url.fill('http://dc.corp.test');
    await url.blur();
    await expect.poll(() => page.locator('#p-directory_url-msg').textContent()).toContain('must look like ldap://host:389');
    expect(await url.getAttribute('aria-invalid')).toBe('true');
    await url.fill(samba.ldapsUrl);
    await expect.poll(() => page.locator('#p-directory_url-msg').textContent()).not.toContain('must look like');

    // PostgreSQL's own port is taken: said before saving, with a free one on offer.
    await page.getByLabel('Local port').fill(String(pg.port));
    const offer = page.getByRole('button', { name: /^Use free port \d+$/ });
    await offer.waitFor();
    expect(await page.locator('#p-listen_port-msg').textContent()).toContain(`Port ${pg.port} is taken`);
    await offer.click();
    proxyPort = Number(await page.getByLabel('Local port').inputValue());
    expect(proxyPort).not.toBe(pg.port);
    await expect.poll(() => page.locator('#p-listen_port-msg').textContent()).toContain('is free');

    // The insecure switch shows what it costs.
    await page.getByLabel('Skip certificate verification (insecure)').check();
    expect(await page.getByRole('alert').filter({ hasText: 'Insecure:' }).isVisible()).toBe(true);
    await page.getByLabel('Skip certificate verification (insecure)').uncheck();

    await page.getByLabel('CA certificate file').fill(samba.pki.caFile);
    await page.getByLabel('Service account', { exact: true }).fill(samba.serviceLogin);
    await page.getByLabel('Service-account password').fill(samba.servicePassword);
    await page.getByLabel('Base DN').fill(samba.baseDn);
    await page.getByLabel('Group prefix').fill('pg-app-');
    await page.getByRole('textbox', { name: 'Host', exact: true }).fill('127.0.0.1');
    await page.getByRole('spinbutton', { name: 'Port', exact: true }).fill(String(pg.port));
    await page.getByRole('textbox', { name: 'Database', exact: true }).fill('app');
    expect(await page.getByLabel('TLS (sslmode)').inputValue()).toBe('verify-full');
    await page.getByLabel('CA bundle file').fill(pg.pki.caFile);

    await page.getByRole('button', { name: 'Create profile' }).first().click();
    await expect.poll(() => page.getByRole('status').filter({ hasText: 'Saved "App (Samba AD)"' }).count()).toBe(1);
    await expect.poll(() => page.url()).toContain(`#/profiles/${PROFILE_ID}`);
    // The password field is emptied and only says where the secret went.
    expect(await page.getByLabel('Service-account password').inputValue()).toBe('');
    await expect.poll(() => page.locator('#secret-ldap-bind-msg').textContent()).toContain('Stored in');
    const config = readFileSync(ctx.configPath, 'utf8');
    expect(config).toContain(PROFILE_ID);
    expect(config).not.toContain(samba.servicePassword);
  });

  it('tests the directory with a user, and the database before setup', async () => {
    await page.getByLabel('Test login (optional)').fill(ALICE.login);
    await page.getByLabel('Password (optional)').fill(ALICE.password);
    await page.getByRole('button', { name: 'Test directory' }).click();
    const dirResult = page.getByTestId('directory-result');
    await expect.poll(() => dirResult.textContent(), { timeout: 20_000 }).toContain('Directory OK');
    const text = (await dirResult.textContent()) ?? '';
    expect(text).toContain('user bind');
    expect(text).toMatch(/Permitted by the prefix\/pattern: pg-app-(data|read), pg-app-(data|read)/);
    // Which servers it tried, in order, and which answered.
    const servers = dirResult.getByTestId('directory-server');
    expect(await servers.count()).toBe(1);
    expect(await servers.first().textContent()).toContain(samba.ldapsUrl);
    expect(await servers.first().textContent()).toContain('answered');
    expect(await page.getByLabel('Password (optional)').inputValue()).toBe('');

    // No sync password yet: the test says which step failed.
    await page.getByRole('button', { name: 'Test database' }).click();
    const dbResult = page.getByTestId('database-result');
    await expect.poll(() => dbResult.textContent(), { timeout: 20_000 }).toContain('Database test failed');
    expect(await dbResult.textContent()).toMatch(/sync login/);
  });

  it('installs the SQL and creates the sync login with admin credentials it does not keep', async () => {
    await goTo('Database setup');
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Database setup');
    await expect.poll(() => page.getByTestId('installed-state').textContent(), { timeout: 20_000 }).not.toContain('Checking');
    expect(await page.getByRole('region', { name: 'Source of install.sql' }).textContent()).toContain('rolecall');

    await page.getByLabel('Administrator login').fill(pg.adminUser);
    await page.getByLabel('Administrator password').fill(pg.adminPassword);
    await page.getByRole('button', { name: 'Install and create sync login' }).click();
    const log = page.getByTestId('setup-log');
    await expect.poll(() => log.textContent(), { timeout: 30_000 }).toContain('is ready');
    expect(await log.textContent()).toContain('Installed rolecall SQL version');
    expect(await page.getByLabel('Administrator password').inputValue()).toBe('');
    await expect.poll(() => page.getByTestId('installed-state').textContent(), { timeout: 20_000 }).toContain('Installed: version');
    expect(readFileSync(ctx.configPath, 'utf8')).not.toContain(pg.adminPassword);
    await screenshot(page, 'database-setup');
    await expectAccessible('database setup');

    // The database side of the allow-list is the DBA's call: done by SQL.
    const admin = await pg.connect({ database: 'app' });
    try {
      await admin.query(`
        CREATE ROLE "pg-app-read" NOLOGIN;
        CREATE ROLE "pg-app-data" NOLOGIN;
        CREATE SCHEMA hr;
        CREATE TABLE hr.employees (id int PRIMARY KEY, name text NOT NULL);
        INSERT INTO hr.employees VALUES (1, 'Ada'), (2, 'Grace');
        GRANT USAGE ON SCHEMA hr TO "pg-app-read", "pg-app-data";
        GRANT SELECT ON hr.employees TO "pg-app-read";
        GRANT SELECT, INSERT ON hr.employees TO "pg-app-data";
        SELECT rolecall.allow_group('pg-app-read', 'pg-app-read');
        SELECT rolecall.allow_group('pg-app-data', 'pg-app-data');
      `);
    } finally {
      await admin.end();
    }
  });

  it('passes both tests in the profile editor once set up', async () => {
    await page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name: 'App (Samba AD)' }).click();
    await expect.poll(() => page.getByLabel('Profile id').inputValue()).toBe(PROFILE_ID);
    await page.getByLabel('Test login (optional)').fill(ALICE.login);
    await page.getByRole('button', { name: 'Test directory' }).click();
    await expect.poll(() => page.getByTestId('directory-result').textContent(), { timeout: 20_000 }).toContain('Directory OK');
    await page.getByRole('button', { name: 'Test database' }).click();
    const dbResult = page.getByTestId('database-result');
    await expect.poll(() => dbResult.textContent(), { timeout: 20_000 }).toContain('Database OK');
    expect(await dbResult.textContent()).toContain('rolecall SQL');
    await screenshot(page, 'profile-editor');
    await expectAccessible('profile editor');
  });

  it('starts the proxy from the status page and shows a psql session live', async () => {
    await goTo('Status');
    const card = page.locator(`[data-profile="${PROFILE_ID}"]`);
    const toggle = card.getByRole('switch', { name: 'Proxy for App (Samba AD)' });
    expect(await toggle.getAttribute('aria-checked')).toBe('false');
    await toggle.click();
    await expect.poll(() => card.getByTestId('state').textContent(), { timeout: 20_000 }).toBe('Running');
    expect(await toggle.getAttribute('aria-checked')).toBe('true');
    expect(await card.getByRole('textbox', { name: 'psql', exact: true }).inputValue()).toContain(`-p ${proxyPort}`);

    const alice = psql(ALICE.login, ALICE.password, 'SELECT pg_sleep(3); SELECT count(*) FROM hr.employees');
    const row = card.getByTestId('session-row').filter({ hasText: ALICE.login });
    await row.waitFor({ timeout: 20_000 });
    expect(await row.textContent()).toContain('psql-e2e');
    expect(await card.getByTestId('active-count').textContent()).toBe('1');
    await screenshot(page, 'status');
    await expectAccessible('status');

    const done = await alice;
    expect(done.stderr).toBe('');
    expect(done.code).toBe(0);
    expect(done.stdout.trim().split('\n').pop()).toBe('2');
    // Closed sessions leave the live table.
    await expect.poll(() => card.getByTestId('session-row').count(), { timeout: 10_000 }).toBe(0);
  });

  it('shows a denied login with the reason the user can act on', async () => {
    const bob = await psql(BOB.login, BOB.password, 'SELECT 1');
    expect(bob.code).not.toBe(0);
    expect(bob.stderr).toMatch(/28000|permitted|group/i);
    const card = page.locator(`[data-profile="${PROFILE_ID}"]`);
    const attempt = card.getByTestId('recent-attempt').filter({ hasText: BOB.login });
    await attempt.waitFor({ timeout: 10_000 });
    expect(await attempt.textContent()).toContain('denied');
    expect(await attempt.textContent()).toContain('28000');
  });

  it('explains a client that starts TLS after being told the profile has none', async () => {
    // postgres.js with ssl: 'require' does this; all its user sees is a socket closed mid-handshake.
    const { answer } = await tlsAfterSslRequest(proxyPort);
    expect(answer).toBe('N');
    const card = page.locator(`[data-profile="${PROFILE_ID}"]`);
    const attempt = card.getByTestId('recent-attempt').filter({ hasText: 'started TLS' });
    await attempt.waitFor({ timeout: 10_000 });
    const text = (await attempt.textContent()) ?? '';
    expect(text).toContain('error');
    expect(text).toContain('(no login)');
    expect(text).toContain("08P01: the client started TLS although this profile has no local TLS: turn on local TLS for this profile, or set the client's sslmode to prefer/disable");
    await screenshot(page, 'status-tls-not-offered');
    await expectAccessible('status (TLS not offered)');
  });

  it('saving the running profile while psql is connected keeps it until the user restarts', async () => {
    const card = page.locator(`[data-profile="${PROFILE_ID}"]`);
    const alice = psql(ALICE.login, ALICE.password, 'SELECT pg_sleep(6); SELECT 1');
    await card.getByTestId('session-row').filter({ hasText: ALICE.login }).waitFor({ timeout: 20_000 });
    await card.getByRole('link', { name: 'Edit' }).click();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Profile: App (Samba AD)');
    await page.getByLabel('Login cache (s)').fill('300');
    await page.getByRole('button', { name: 'Save profile' }).first().click();
    await expect
      .poll(() => page.getByRole('status').filter({ hasText: '1 connection is open on the running proxy: it keeps the old settings' }).count())
      .toBe(1);
    expect(await page.getByRole('button', { name: 'Restart now' }).isVisible()).toBe(true);
    await screenshot(page, 'profile-editor-restart-pending');

    await goTo('Status');
    const notice = card.getByTestId('restart-pending');
    await notice.waitFor();
    expect(await notice.textContent()).toContain('Settings changed — restart to apply');
    await expectAccessible('status (restart pending)');
    await screenshot(page, 'status-restart-pending');
    // The client was not cut by the save.
    const done = await alice;
    expect(done.stderr).toBe('');
    expect(done.code).toBe(0);
    await expect.poll(() => card.getByTestId('session-row').count(), { timeout: 10_000 }).toBe(0);

    await notice.getByRole('button', { name: `Restart the proxy for App (Samba AD)` }).focus();
    await page.keyboard.press('Enter');
    await expect.poll(() => card.getByTestId('restart-pending').count(), { timeout: 20_000 }).toBe(0);
    expect(await card.getByTestId('state').textContent()).toBe('Running');
    expect(ctx.service.get(PROFILE_ID)?.profile.cache).toMatchObject({ ttlSeconds: 300 });
    expect((await psql(ALICE.login, ALICE.password, 'SELECT 1')).code).toBe(0);
  });

  it('lists both attempts in history, filters them and exports CSV', async () => {
    await goTo('History');
    const rows = page.getByTestId('history-row');
    await expect.poll(() => rows.count(), { timeout: 10_000 }).toBeGreaterThanOrEqual(2);
    expect(await page.getByTestId('history-count').textContent()).toMatch(/of [2-9]/);
    await expect.poll(() => page.locator('figure.chart svg').getAttribute('aria-label')).toMatch(/^Connections over time: [1-9]\d* signed in, 1 denied, 1 errors/);

    // The client that started TLS: no login, and the message saying what to change.
    const tlsRow = rows.filter({ hasText: 'started TLS' });
    expect(await tlsRow.textContent()).toContain('(no login)');
    expect(await tlsRow.textContent()).toContain('08P01');

    // Bob's row: its details say why.
    const bobRow = rows.filter({ hasText: BOB.login });
    await bobRow.getByRole('button', { name: /Details/ }).click();
    const detail = page.getByTestId('history-detail');
    await detail.waitFor();
    expect(await detail.textContent()).toContain('28000');
    expect(await detail.textContent()).toMatch(/staff|no permitted|group/i);
    await screenshot(page, 'history');
    await expectAccessible('history');

    await page.getByLabel('Login', { exact: true }).fill(BOB.login);
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect.poll(() => page.getByTestId('history-count').textContent()).toBe('1–1 of 1');
    expect(await rows.first().textContent()).toContain('denied');

    await page.getByLabel('Login', { exact: true }).fill('');
    await page.getByLabel('Outcome').selectOption('success');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect.poll(async () => (await rows.allTextContents()).every((t) => t.includes(ALICE.login) && t.includes('success'))).toBe(true);
    expect(await rows.count()).toBeGreaterThanOrEqual(1);

    const [download] = await Promise.all([page.waitForEvent('download'), page.getByRole('button', { name: 'Export CSV' }).click()]);
    expect(download.suggestedFilename()).toMatch(/^rolecall-history-.*\.csv$/);
    const file = path.join(session.downloadsDir, download.suggestedFilename());
    await download.saveAs(file);
    const csv = readFileSync(file, 'utf8');
    expect(csv.split('\n')[0]).toMatch(/login/i);
    expect(csv).toContain(ALICE.login);
    expect(csv).not.toContain(`,${BOB.login},`);
    expect(csv).not.toContain(ALICE.password);
  });

  it('explains access for a denied and an allowed login (dry run)', async () => {
    await goTo('Access check');
    await page.getByLabel('Login', { exact: true }).fill(BOB.login);
    await page.getByRole('button', { name: 'Check access' }).click();
    const result = page.getByTestId('access-result');
    await expect.poll(() => result.textContent(), { timeout: 20_000 }).toContain('No access');
    expect(await result.textContent()).toContain('staff');

    await page.getByLabel('Login', { exact: true }).fill(ALICE.login);
    await page.getByLabel('Password (optional)').fill(ALICE.password);
    await page.getByRole('button', { name: 'Check access' }).click();
    await expect.poll(() => result.textContent(), { timeout: 20_000 }).toContain('Access granted');
    const text = (await result.textContent()) ?? '';
    expect(text).toContain('team-analysts'); // the nested path to pg-app-read
    expect(text).toContain('pg-app-read');
    expect(await page.getByLabel('Password (optional)').inputValue()).toBe('');
    await screenshot(page, 'access-check');
    await expectAccessible('access check');
  });

  it('gives copy-ready client strings and writes a pg_service.conf entry without a password', async () => {
    await goTo('Client setup');
    await page.getByLabel('Your login (optional)').fill(ALICE.login);
    await page.getByRole('button', { name: 'Update strings' }).click();
    await expect.poll(() => page.getByRole('textbox', { name: 'psql', exact: true }).inputValue()).toContain(`-U ${ALICE.login}`);
    expect(await page.getByRole('textbox', { name: /^JDBC URL/ }).inputValue()).toBe(`jdbc:postgresql://127.0.0.1:${proxyPort}/app?user=${ALICE.login}&sslmode=disable`);
    expect(await page.getByRole('textbox', { name: /^libpq/ }).inputValue()).toContain(`port=${proxyPort}`);
    await expect.poll(() => page.getByTestId('port-check').textContent()).toContain('In use by this proxy');

    await page.getByRole('button', { name: 'Write pg_service.conf entry' }).click();
    await expect.poll(() => page.getByText(/Wrote service "rolecall-app-samba-ad"/).count()).toBe(1);
    const service = readFileSync(path.join(dir, 'pg_service.conf'), 'utf8');
    expect(service).toContain('[rolecall-app-samba-ad]');
    expect(service).toContain(`port=${proxyPort}`);
    expect(service).not.toMatch(/password/i);
    await screenshot(page, 'client-setup');
    await expectAccessible('client setup');
  });

  it('says on the Status page whose directory password expires soon, after psql printed it', async () => {
    const carl = await psql(CARL.login, CARL.password, 'SELECT 1');
    expect(carl.code, carl.stderr).toBe(0);
    expect(carl.stderr).toMatch(/^WARNING: {2}your directory password expires in 2 days\nHINT: {2}Change it before /);
    await goTo('Status');
    const card = page.locator(`[data-profile="${PROFILE_ID}"]`);
    const line = card.getByTestId('password-expiry');
    await expect.poll(() => line.textContent(), { timeout: 10_000 }).toMatch(/^carl: your directory password expires in 2 days\. Change it before .* UTC/);
    expect(await line.count()).toBe(1);
    await expectAccessible('status with a password expiry warning');
  });

  it('stops the proxy from the status page, by keyboard', async () => {
    await goTo('Status');
    const card = page.locator(`[data-profile="${PROFILE_ID}"]`);
    const toggle = card.getByRole('switch', { name: 'Proxy for App (Samba AD)' });
    await toggle.focus();
    await page.keyboard.press('Space');
    await expect.poll(() => card.getByTestId('state').textContent(), { timeout: 20_000 }).toBe('Stopped');
    const refused = await psql(ALICE.login, ALICE.password, 'SELECT 1');
    expect(refused.code).not.toBe(0);
  });

  it('shows a broker profile beside the direct one: its own editor with no secret field, startable, deletable', async () => {
    const brokerPort = await freePort();
    const broker = {
      mode: 'broker' as const,
      id: 'team-hr',
      name: 'HR (team broker)',
      broker: { urls: ['https://broker.corp.test:8443'], database: 'hr' },
      database: { host: 'hr-db.corp.test', database: 'hr', caFile: path.join(dir, 'hr-ca.pem') },
      listen: { port: brokerPort },
    };
    expect(await ctx.store.upsertProfile(broker)).toBeNull();
    await page.reload();
    await goTo('Status');
    const card = page.locator('[data-profile="team-hr"]');
    await expect.poll(() => card.textContent()).toContain('via team broker https://broker.corp.test:8443');
    // The direct profile's card is still there and unchanged.
    expect(await page.locator(`[data-profile="${PROFILE_ID}"]`).count()).toBe(1);
    expect(await card.textContent()).not.toMatch(/password is not set/);
    await card.getByRole('switch', { name: 'Proxy for HR (team broker)' }).click();
    await expect.poll(() => card.getByTestId('state').textContent(), { timeout: 20_000 }).toBe('Running');
    await expectAccessible('status with a broker profile');

    await card.getByRole('link', { name: 'Edit' }).click();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Profile: HR (team broker)');
    expect(await page.getByTestId('broker-profile-note').textContent()).toContain('There is no password to type or store here');
    expect(await page.getByLabel('Broker URLs').inputValue()).toBe('https://broker.corp.test:8443');
    // No field for a stored secret; the one password box is Refresh from team's sign-in, used once.
    expect(await page.locator('#secret-ldap-bind, #secret-sync').count()).toBe(0);
    expect(await page.locator('input[type="password"]').count()).toBe(1);
    expect(await page.locator('#refresh-password-msg').textContent()).toBe('Used for this one request, never stored');
    await screenshot(page, 'broker-profile');
    await expectAccessible('broker profile editor');

    await page.getByRole('button', { name: 'Delete profile…' }).click();
    await page.getByRole('button', { name: 'Delete', exact: true }).click();
    await expect.poll(() => page.getByRole('heading', { level: 1 }).textContent()).toBe('Status');
    expect(await page.locator('[data-profile="team-hr"]').count()).toBe(0);
    expect(ctx.service.get('team-hr')).toBeUndefined();
  });

  it('pages through 100,000 history rows without loading them all', async () => {
    const now = Date.now();
    const rows = Array.from({ length: 100_000 }, (_, i) => ({
      startedAt: now - 60_000 - i * 800,
      endedAt: now - 50_000 - i * 800,
      profileId: 'bulk',
      login: `user${i % 1000}`,
      canonicalLogin: `user${i % 1000}`,
      database: 'app',
      applicationName: 'bench',
      clientAddress: '127.0.0.1',
      outcome: i % 10 === 0 ? ('denied' as const) : ('success' as const),
      sqlstate: i % 10 === 0 ? '28000' : null,
      message: i % 10 === 0 ? 'not in any permitted group' : null,
      groups: [],
      cacheHit: i % 2 === 0,
      authLatencyMs: 20,
      bytesFromClient: 100,
      bytesToClient: 1000,
    }));
    ctx.history.insertAll(rows);

    await go('#/status');
    const started = Date.now();
    await goTo('History');
    await expect.poll(() => page.getByTestId('history-count').textContent(), { timeout: 10_000 }).toMatch(/^1–30 of 100,00\d$/);
    const firstPage = Date.now() - started;
    expect(await page.getByTestId('history-row').count()).toBe(30);

    const t = Date.now();
    await page.getByRole('button', { name: 'Next' }).click();
    await expect.poll(() => page.getByTestId('history-count').textContent()).toMatch(/^31–60 of /);
    const nextPage = Date.now() - t;

    await page.getByLabel('Login', { exact: true }).fill('user42');
    await page.getByRole('button', { name: 'Apply filters' }).click();
    await expect.poll(() => page.getByTestId('history-count').textContent()).toBe('1–30 of 100');
    // Generous bounds for a 2-core CI machine; loading 100,000 rows into the page would take far longer.
    expect(firstPage).toBeLessThan(3000);
    expect(nextPage).toBeLessThan(1500);
  });

  it('keeps the dark theme accessible too', async () => {
    const dark = await session.browser.newContext({ colorScheme: 'dark', viewport: { width: 1280, height: 860 } });
    const darkPage = await dark.newPage();
    try {
      for (const [name, hash] of [['status', '#/status'], ['profile-editor', `#/profiles/${PROFILE_ID}`], ['history', '#/history']] as const) {
        await darkPage.goto(`${bridge.openUrl}${hash}`);
        await darkPage.locator('h1').first().waitFor();
        await darkPage.waitForTimeout(300);
        const found = await seriousViolations(darkPage);
        expect(found, `dark ${hash}: ${JSON.stringify(found, null, 1)}`).toEqual([]);
        await screenshot(darkPage, `${name}-dark`);
      }
    } finally {
      await dark.close();
    }
  });

  it('ran under the strict CSP without errors, and left screenshots for the README', () => {
    // The build itself has nothing inline that the CSP would have to allow.
    const html = readFileSync(path.join(DIST, 'index.html'), 'utf8');
    expect(html).toContain('http-equiv="Content-Security-Policy"');
    expect(html).not.toMatch(/<script(?![^>]*\bsrc=)[^>]*>/);
    expect(html).not.toMatch(/<style|\sstyle=/);
    expect(session.cspViolations).toEqual([]);
    expect(session.errors).toEqual([]);
    mkdirSync(DOCS_SHOTS, { recursive: true });
    for (const name of ['first-run', 'status', 'profile-editor', 'history']) {
      const from = path.join(SCREENSHOT_DIR, `${name}.png`);
      expect(existsSync(from)).toBe(true);
      copyFileSync(from, path.join(DOCS_SHOTS, `${name}.png`));
    }
  });
});

