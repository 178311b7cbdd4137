import type { AppContext } from '../app-context.js';
import type { HandlerMap } from './types.js';
import { appHandlers } from './app.js';
import { clientHandlers } from './clients.js';
import { diagnosticsHandlers } from './diagnostics.js';
import { historyHandlers } from './history.js';
import { profileHandlers } from './profiles.js';
import { proxyHandlers } from './proxies.js';
import { secretHandlers } from './secrets.js';
import { settingsHandlers } from './settings.js';
import { setupHandlers } from './setup.js';
import { teamHandlers } from './team.js';

export type { HandlerMap };

/**
 * Every channel of the contract, served over the engine in `ctx`. The same
 * map backs Electron's IPC (electron/ipc-adapter.ts) and the web bridge used by
 * browser tests. Handlers validate their input and never throw.
 */
export function createHandlers(ctx: AppContext): HandlerMap {
  return {
    ...profileHandlers(ctx),
    ...secretHandlers(ctx),
    ...proxyHandlers(ctx),
    ...diagnosticsHandlers(ctx),
    ...setupHandlers(ctx),
    ...historyHandlers(ctx),
    ...settingsHandlers(ctx),
    ...clientHandlers(ctx),
    ...appHandlers(ctx),
    ...teamHandlers(ctx),
  };
}
