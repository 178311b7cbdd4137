import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../core/log.js';
import { MemorySecretStore } from '../core/secrets/memory-store.js';
import { createAppContext } from './app-context.js';
import { createHandlers } from './handlers/index.js';
import { startWebBridge } from './web-bridge.js';

/*
 * DEV/TEST ONLY: the engine + the IPC handlers + the web bridge serving the
 * built renderer, for browser tests and renderer work without Electron.
 *
 *   node --import tsx src-main/ipc/web-bridge-main.ts [--config FILE] [--port N]
 *        [--static DIR] [--history FILE|:memory:] [--secrets keychain|memory] [--sql DIR]
 *
 * Prints one JSON line on stdout when ready: {"url":..., "open": url?token=..., "port":..., "token":...}.
 * Logs go to stderr. SIGINT/SIGTERM stop the proxies and exit 0.
 */

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

async function main(): Promise<number> {
  const { values } = parseArgs({
    options: {
      config: { type: 'string' },
      port: { type: 'string', default: '0' },
      static: { type: 'string' },
      history: { type: 'string' },
      secrets: { type: 'string', default: 'keychain' },
      sql: { type: 'string' },
    },
  });
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new Error(`--port must be 0..65535, got ${values.port}`);
  if (values.secrets !== 'keychain' && values.secrets !== 'memory') throw new Error('--secrets must be keychain or memory');
  const defaultStatic = path.join(REPO_ROOT, 'dist', 'renderer');
  const staticDir = values.static ?? (existsSync(defaultStatic) ? defaultStatic : undefined);

  const logger = createLogger({ destination: 2 });
  const ctx = await createAppContext({
    logger,
    ...(values.config ? { configPath: path.resolve(values.config) } : {}),
    ...(values.history ? { historyPath: values.history === ':memory:' ? ':memory:' : path.resolve(values.history) } : {}),
    ...(values.secrets === 'memory' ? { secrets: new MemorySecretStore() } : {}),
    ...(values.sql ? { sqlDir: path.resolve(values.sql) } : {}),
  });
  const bridge = await startWebBridge({ handlers: createHandlers(ctx), events: ctx.service, port, logger, ...(staticDir ? { staticDir } : {}) });
  process.stdout.write(`${JSON.stringify({ url: bridge.url, open: bridge.openUrl, port: bridge.port, token: bridge.token, config: ctx.configPath, static: staticDir ?? null })}\n`);

  await new Promise<void>((resolve) => {
    process.once('SIGINT', () => resolve());
    process.once('SIGTERM', () => resolve());
  });
  await bridge.close();
  await ctx.close();
  return 0;
}

main().then(
  (code) => process.exit(code),
  (e: unknown) => {
    process.stderr.write(`web bridge: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
