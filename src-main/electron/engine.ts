import { createAppContext } from '../ipc/app-context.js';
import { createHandlers } from '../ipc/handlers/index.js';
import type { Engine } from './desktop-app.js';
import { createDemoEngine, type DemoEngineOptions } from './demo-engine.js';
import type { AppPaths } from './paths.js';

/** `npm start -- --demo` (`electron . --demo`): the app on the demo's servers instead of the user's config. */
export const DEMO_ARG = '--demo';

/**
 * The engine runs here, in Electron's main process, not in a utility process:
 * after authentication a proxy only pipes bytes (async I/O); the CPU work is
 * a few milliseconds of SCRAM/PBKDF2 per sign-in that the auth cache skips.
 * The main process draws no pixels (the renderer does), so this costs the UI
 * nothing a user would notice, and one process keeps IPC, the keychain and
 * the history database simple. A utility process would add a second IPC hop
 * and its own lifecycle for no measured gain; if profiling ever shows main
 * blocking, the Engine interface (handlers + service) is the seam to move.
 */
export async function createEngine(paths: AppPaths, version: string, argv: readonly string[] = [], demo?: DemoEngineOptions): Promise<Engine> {
  if (argv.includes(DEMO_ARG)) {
    if (!demo) throw new Error(`${DEMO_ARG} needs the demo's settings`);
    return createDemoEngine(paths, version, demo);
  }
  const ctx = await createAppContext({ sqlDir: paths.sqlDir, version });
  return { handlers: createHandlers(ctx), service: ctx.service, close: () => ctx.close() };
}
