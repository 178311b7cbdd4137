import { readFileSync, mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import { chromium, type Browser, type BrowserContext, type Page } from 'playwright-core';
import { expect } from 'vitest';
import { tempDir } from './ports.js';

/** Debian's Chromium, headless, with nothing phoning home. */
const CHROMIUM = '/usr/bin/chromium';
const ARGS = [
  '--headless',
  '--no-sandbox',
  '--disable-gpu',
  '--disable-background-networking',
  '--disable-component-update',
  '--disable-sync',
  '--no-first-run',
  '--disable-dev-shm-usage',
];

const ROOT = path.resolve(import.meta.dirname, '../..');
export const SCREENSHOT_DIR = path.join(ROOT, 'test-artifacts', 'screenshots');

export interface BrowserSession {
  browser: Browser;
  context: BrowserContext;
  page: Page;
  /** Console errors and uncaught page errors, so a test can assert the app ran cleanly. */
  errors: string[];
  /** Content-Security-Policy violations reported by the page (none expected). */
  cspViolations: string[];
  downloadsDir: string;
  close(): Promise<void>;
}

export interface LaunchOptions {
  colorScheme?: 'light' | 'dark';
  viewport?: { width: number; height: number };
}

/** A fresh Chromium with its own HOME and profile, one page open. */
export async function launchBrowser(options: LaunchOptions = {}): Promise<BrowserSession> {
  const home = tempDir('chromium');
  const downloadsDir = path.join(home, 'downloads');
  mkdirSync(downloadsDir);
  const browser = await chromium.launch({
    executablePath: CHROMIUM,
    args: ARGS,
    headless: true,
    downloadsPath: downloadsDir,
    env: { ...process.env, HOME: home, XDG_CONFIG_HOME: path.join(home, '.config'), XDG_CACHE_HOME: path.join(home, '.cache') },
  });
  const context = await browser.newContext({
    viewport: options.viewport ?? { width: 1280, height: 860 },
    colorScheme: options.colorScheme ?? 'light',
    acceptDownloads: true,
    deviceScaleFactor: 1,
  });
  // A missing element should fail a step in seconds, not after Playwright's default 30 s.
  context.setDefaultTimeout(10_000);
  const page = await context.newPage();
  const errors: string[] = [];
  const cspViolations: string[] = [];
  page.on('console', (m) => {
    if (m.type() !== 'error') return;
    const text = m.text();
    const at = m.location().url;
    if (/Content Security Policy/i.test(text)) cspViolations.push(text);
    else errors.push(at ? `${text} (${at})` : text);
  });
  page.on('pageerror', (e) => errors.push(`pageerror: ${e.message}`));
  return {
    browser,
    context,
    page,
    errors,
    cspViolations,
    downloadsDir,
    async close() {
      await browser.close();
      rmSync(home, { recursive: true, force: true });
    },
  };
}

export interface AxeViolation {
  id: string;
  impact: 'minor' | 'moderate' | 'serious' | 'critical' | null;
  help: string;
  nodes: string[];
}

let axeSource: string | undefined;

/**
 * Runs axe-core on the page as it is. axe is evaluated through the DevTools
 * protocol, which the page's CSP does not govern, so the app's policy stays
 * exactly as shipped while we audit it.
 */
export async function runAxe(page: Page): Promise<AxeViolation[]> {
  axeSource ??= readFileSync(path.join(ROOT, 'node_modules/axe-core/axe.min.js'), 'utf8');
  const cdp = await page.context().newCDPSession(page);
  try {
    await cdp.send('Runtime.evaluate', { expression: axeSource });
  } finally {
    await cdp.detach();
  }
  return page.evaluate(async () => {
    // axe and document are page globals; typed here by hand (this file compiles without DOM types).
    const page = globalThis as unknown as {
      document: unknown;
      axe: { run(ctx: unknown, opts: object): Promise<{ violations: { id: string; impact: AxeViolation['impact']; help: string; nodes: { target: unknown[] }[] }[] }> };
    };
    const result = await page.axe.run(page.document, { resultTypes: ['violations'] });
    return result.violations.map((v) => ({ id: v.id, impact: v.impact, help: v.help, nodes: v.nodes.map((n) => JSON.stringify(n.target)) }));
  });
}

/** Only what blocks people: axe's "serious" and "critical" findings. */
export async function seriousViolations(page: Page): Promise<AxeViolation[]> {
  return (await runAxe(page)).filter((v) => v.impact === 'serious' || v.impact === 'critical');
}

/**
 * A PNG of the whole page in test-artifacts/screenshots/<name>.png; returns its path.
 * The app scrolls inside <main> like a desktop window, so "full page" means
 * making the window as tall as main's content for the shot, then back.
 */
export async function screenshot(page: Page, name: string): Promise<string> {
  mkdirSync(SCREENSHOT_DIR, { recursive: true });
  const file = path.join(SCREENSHOT_DIR, `${name}.png`);
  const before = page.viewportSize() ?? { width: 1280, height: 860 };
  const content = await page.evaluate(() => {
    const main = (globalThis as unknown as { document: { querySelector(s: string): { scrollHeight: number } | null } }).document.querySelector('main');
    return main?.scrollHeight ?? 0;
  });
  const height = Math.min(4000, Math.max(before.height, content));
  if (height !== before.height) await page.setViewportSize({ width: before.width, height });
  await page.screenshot({ path: file, animations: 'disabled', caret: 'hide' });
  if (height !== before.height) await page.setViewportSize(before);
  return file;
}

/** The app's page as the browser suite drives it: the main navigation and the accessibility check. */
export function appPage(page: Page) {
  const nav = (name: string) => page.getByRole('navigation', { name: 'Main' }).getByRole('link', { name, exact: true });
  return {
    nav,
    /**
     * Opens a page from the main navigation and waits until it is the current page.
     * The hash route changes on an async hashchange event, so without this wait a
     * following fill() can land in the previous page's field of the same label.
     */
    async goTo(name: string): Promise<void> {
      await nav(name).click();
      await expect.poll(() => nav(name).getAttribute('aria-current')).toBe('page');
    },
    /** axe on the page as it stands: nothing serious or critical. */
    async expectAccessible(what: string): Promise<void> {
      const found = await seriousViolations(page);
      expect(found, `${what}: ${JSON.stringify(found, null, 1)}`).toEqual([]);
    },
  };
}
