import os from 'node:os';
import path from 'node:path';
import { createLogger, type Logger } from '../core/log.js';
import { packageVersion } from '../core/package-version.js';
import { defaultConfigPath } from '../core/profiles/config-path.js';
import { ProfileStore } from '../core/profiles/store.js';
import { createSecretStore } from '../core/secrets/create-store.js';
import type { SecretStore } from '../core/secrets/secret-store.js';
import { HistoryStore } from '../core/history/history-store.js';
import { historySink } from '../core/history/proxy-history.js';
import { historyPathFor } from '../core/history/history-path.js';
import { ProxyService, type ServiceOptions } from '../core/service.js';

/** Everything the IPC handlers work on: the engine and its stores. One per process. */
export interface AppContext {
  configPath: string;
  store: ProfileStore;
  secrets: SecretStore;
  service: ProxyService;
  history: HistoryStore;
  logger: Logger;
  /** Folder holding install.sql (shipped as an extra resource in the packaged app). */
  sqlDir: string;
  /** App version shown in app.info. */
  version: string;
  /** Environment for PGSERVICEFILE and HOME (a parameter so tests never touch the real ~/.pg_service.conf). */
  env: NodeJS.ProcessEnv;
  /** Stops every proxy and closes the history. */
  close(): Promise<void>;
}

export interface AppContextOptions {
  /** Default: ROLECALL_CONFIG, else the OS's per-user config folder. */
  configPath?: string;
  /** Default: ROLECALL_* environment variables, then the OS keychain (never files). */
  secrets?: SecretStore;
  /** Default: history.sqlite3 next to the config file; ':memory:' for tests. */
  historyPath?: string;
  logger?: Logger;
  /** Default: sql/postgres of this checkout. Electron passes its resources folder. */
  sqlDir?: string;
  /** Default: tls/ next to the config file. */
  tlsDir?: string;
  /** Default: package.json's version. Electron passes app.getVersion(). */
  version?: string;
  env?: NodeJS.ProcessEnv;
  /** Test seams passed to ProxyService (directoryFor, syncFor). */
  service?: Pick<ServiceOptions, 'directoryFor' | 'syncFor'>;
}

const REPO_ROOT = path.resolve(import.meta.dirname, '../..');

export async function createAppContext(options: AppContextOptions = {}): Promise<AppContext> {
  const env = options.env ?? process.env;
  const configPath = options.configPath ?? defaultConfigPath(env);
  const configDir = path.dirname(configPath);
  const logger = options.logger ?? createLogger();
  const store = new ProfileStore(configPath);
  const secrets = options.secrets ?? createSecretStore({ env });
  const history = new HistoryStore(options.historyPath ?? historyPathFor(configPath));
  if (history.movedAsideTo) logger.warn({ movedAsideTo: history.movedAsideTo }, 'history database was unreadable and was moved aside');
  const service = new ProxyService({
    secrets,
    logger,
    history: historySink(history, (e) => logger.warn({ error: e instanceof Error ? e.message : String(e) }, 'could not write history')),
    tlsDir: options.tlsDir ?? path.join(configDir, 'tls'),
    ...options.service,
  });

  // Old history goes at startup, as the settings say; a broken config file only skips this.
  const loaded = await store.load();
  if (loaded.ok) history.prune(loaded.config.settings.historyRetentionDays);
  else logger.warn({ path: configPath, errors: loaded.errors }, 'config file cannot be used');

  let closed = false;
  return {
    configPath,
    store,
    secrets,
    service,
    history,
    logger,
    sqlDir: options.sqlDir ?? path.join(REPO_ROOT, 'sql', 'postgres'),
    version: options.version ?? packageVersion(),
    env,
    async close() {
      if (closed) return;
      closed = true;
      await service.stopAll(2000);
      history.close();
    },
  };
}

/** The user's home, as the context's environment says (HOME / USERPROFILE). */
export function homeDir(env: NodeJS.ProcessEnv): string {
  return env.HOME || env.USERPROFILE || os.homedir();
}
