import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync } from 'node:fs';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { build } from 'vite';
import type { Page } from 'playwright-core';
import { appPage, launchBrowser, screenshot, SCREENSHOT_DIR, type BrowserSession } from '../harness/browser.js';
import { freePort } from '../harness/ports.js';
import { run } from '../harness/run.js';

/*
 * `npm run demo` shows the app itself: the printed address opened in real
 * Chromium shows the demo's Status, History, Access check and Client setup,
 * live while psql signs in through the demo's broker.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');
const DOCS_SHOTS = path.join(ROOT, 'docs', 'screenshots');

let demo: ChildProcessWithoutNullStreams;
let port: number;
let ui: URL;
let session: BrowserSession;
let page: Page;
const expectAccessible = (what: string) => appPage(page).expectAccessible(what);
const goTo = (name: string) => appPage(page).goTo(name);

beforeAll(async () => {
  await build({ configFile: path.join(ROOT, 'vite.config.ts'), logLevel: 'warn' });
  port = await freePort();
  demo = spawn(process.execPath, ['bin/rolecall.mjs', 'demo', '--json', '--port', String(port)], { cwd: ROOT, stdio: ['pipe', 'pipe', 'pipe'] });
  let stderr = '';
  demo.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  ui = await new Promise<URL>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`demo not ready in 120 s: ${stderr}`)), 120_000);
    demo.once('exit', (code) => reject(new Error(`demo exited with ${code}: ${stderr}`)));
    createInterface({ input: demo.stdout }).on('line', (line) => {
      const e = JSON.parse(line) as { event: string; ui?: string };
      if (e.event !== 'ready' || !e.ui) return;
      clearTimeout(timer);
      resolve(new URL(e.ui));
    });
  });
  session = await launchBrowser();
  page = session.page;
}, 180_000);

afterAll(async () => {
  await session?.close();
  if (demo && demo.exitCode === null) {
    const exited = new Promise((r) => demo.once('exit', r));
    demo.kill('SIGINT');
    await exited;
  }
});

describe('npm run demo, in the browser', () => {
  it('refuses the page without this run\'s token', async () => {
    const res = await page.goto(`${ui.origin}/#/status`);
    expect(res?.status()).toBe(401);
    expect(await page.textContent('body')).toContain('open the address Rolecall printed');
    // The browser logged those refusals (the page and its icon); from here on nothing may fail.
    expect(session.errors.every((e) => e.includes('401 (Unauthorized)'))).toBe(true);
    session.errors.length = 0;
  });

  it('opens the printed address on Status, with the demo\'s broker profile running', async () => {
    await page.goto(`${ui.href}#/status`);
    // The token left the address bar for an HttpOnly cookie.
    expect(page.url()).toBe(`${ui.origin}/#/status`);
    const card = page.locator('[data-profile="demo"]');
    await expect.poll(() => card.getByTestId('state').textContent(), { timeout: 20_000 }).toBe('Running');
    expect(await card.textContent()).toContain('via team broker https://127.0.0.1:');

    const alice = run('psql', ['-X', '-At', '-c', 'select pg_sleep(3); select current_user', `host=127.0.0.1 port=${port} dbname=hr user=alice`], {
      env: { PATH: process.env.PATH ?? '', PGPASSWORD: 'alice-pass', PGCONNECT_TIMEOUT: '10', PGAPPNAME: 'psql-demo' },
    });
    await card.getByTestId('session-row').filter({ hasText: 'alice' }).waitFor({ timeout: 20_000 });
    await card.getByTestId('broker-credential').filter({ hasText: 'alice' }).waitFor({ timeout: 10_000 });
    await screenshot(page, 'demo-status');
    await expectAccessible('demo status');
    expect((await alice).stdout.trim().split('\n').pop()).toBe('alice');
  });

  it('shows the sign-in in History, explains access through the broker, and gives client strings', async () => {
    await goTo('History');
    await page.getByTestId('history-row').filter({ hasText: 'alice' }).first().waitFor({ timeout: 10_000 });

    await goTo('Access check');
    await page.getByLabel('Your login').fill('alice');
    await page.getByLabel('Your password').fill('alice-pass');
    await page.getByRole('button', { name: 'Check access' }).click();
    await expect.poll(() => page.getByTestId('access-result').textContent(), { timeout: 20_000 }).toContain('Access granted');
    expect(await page.getByTestId('access-result').textContent()).toContain('heimdall-readonly');

    await goTo('Client setup');
    await expect.poll(() => page.getByRole('textbox', { name: 'psql', exact: true }).inputValue()).toContain(`-p ${port}`);
    expect(session.cspViolations).toEqual([]);
    // The token-less visit's icon may be refused after the first test cleared the list: Chromium fetches it late.
    expect(session.errors.filter((e) => !(e.includes('401 (Unauthorized)') && e.endsWith('/favicon.ico)')))).toEqual([]);
    mkdirSync(DOCS_SHOTS, { recursive: true });
    const from = path.join(SCREENSHOT_DIR, 'demo-status.png');
    expect(existsSync(from)).toBe(true);
    copyFileSync(from, path.join(DOCS_SHOTS, 'demo-status.png'));
  });
});
