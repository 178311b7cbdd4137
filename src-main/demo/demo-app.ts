import path from 'node:path';
import type { Logger } from '../core/log.js';
import { createAppContext, type AppContext } from '../ipc/app-context.js';
import { createHandlers } from '../ipc/handlers/index.js';
import { startWebBridge, type WebBridge } from '../ipc/web-bridge.js';
import type { DemoEnvironment } from './demo-environment.js';
import { ensureRendererBuilt } from './renderer-build.js';

export interface DemoApp {
  ctx: AppContext;
  bridge: WebBridge;
  stop(): Promise<void>;
}

/**
 * DEMO: the laptop side as the desktop app runs it (the app context, its
 * IPC handlers, the proxy service), with the demo's profile saved and
 * started, and the app's real pages served from those handlers over the
 * web bridge: 127.0.0.1 only, a token new at every run on every request,
 * the window's CSP. Everything it writes stays in the demo's folder.
 */
export async function startDemoApp(options: { dir: string; env: DemoEnvironment; uiPort: number; logger: Logger; say: (m: string) => void }): Promise<DemoApp> {
  const { dir, env, logger } = options;
  const staticDir = await ensureRendererBuilt(options.say);
  const ctx = await createAppContext({
    configPath: path.join(dir, 'laptop', 'config.json'),
    historyPath: path.join(dir, 'laptop', 'history.sqlite3'),
    tlsDir: path.join(dir, 'laptop', 'tls'),
    secrets: env.secrets,
    logger,
    // Client setup's pg_service.conf entry goes into the demo's folder, never the user's own file.
    env: { ...process.env, PGSERVICEFILE: path.join(dir, 'laptop', 'pg_service.conf') },
  });
  try {
    const errors = await ctx.store.upsertProfile(env.profile);
    if (errors) throw new Error(`the demo's profile: ${errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
    await ctx.service.start(env.profile);
    const bridge = await startWebBridge({ handlers: createHandlers(ctx), events: ctx.service, staticDir, port: options.uiPort, logger });
    return {
      ctx,
      bridge,
      async stop() {
        await bridge.close();
        await ctx.close();
      },
    };
  } catch (e) {
    await ctx.close();
    throw e;
  }
}
