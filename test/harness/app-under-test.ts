import path from 'node:path';
import { build } from 'vite';
import type { Page } from 'playwright-core';
import { silentLogger } from '../../src-main/core/log.js';
import { MemorySecretStore } from '../../src-main/core/secrets/memory-store.js';
import { createAppContext, type AppContext } from '../../src-main/ipc/app-context.js';
import { createHandlers, type HandlerMap } from '../../src-main/ipc/handlers/index.js';
import { startWebBridge, type WebBridge } from '../../src-main/ipc/web-bridge.js';
import { launchBrowser, type BrowserSession } from './browser.js';

const ROOT = path.resolve(import.meta.dirname, '../..');
export const RENDERER_DIST = path.join(ROOT, 'dist', 'renderer');

/** The desktop app as the browser suite drives it: its engine on a folder of its own, the web bridge, Chromium. */
export interface AppUnderTest {
  ctx: AppContext;
  handlers: HandlerMap;
  bridge: WebBridge;
  session: BrowserSession;
  page: Page;
  close(): Promise<void>;
}

/**
 * Builds the renderer from the current source (the test must exercise what
 * ships), then starts the engine with its config, history and TLS in `dir`,
 * secrets in memory, and HOME and PGSERVICEFILE in `dir` (the real
 * ~/.pg_service.conf is never touched); the web bridge serves it to Chromium.
 */
export async function startAppUnderTest(dir: string): Promise<AppUnderTest> {
  await build({ configFile: path.join(ROOT, 'vite.config.ts'), logLevel: 'warn' });
  const ctx = await createAppContext({
    configPath: path.join(dir, 'config.json'),
    historyPath: path.join(dir, 'history.sqlite3'),
    secrets: new MemorySecretStore(),
    tlsDir: path.join(dir, 'tls'),
    logger: silentLogger,
    env: { PATH: process.env.PATH ?? '', HOME: dir, PGSERVICEFILE: path.join(dir, 'pg_service.conf') },
  });
  const handlers = createHandlers(ctx);
  const bridge = await startWebBridge({ handlers, events: ctx.service, staticDir: RENDERER_DIST });
  const session = await launchBrowser();
  return {
    ctx,
    handlers,
    bridge,
    session,
    page: session.page,
    async close() {
      await session.close();
      await bridge.close();
      await ctx.close();
    },
  };
}
