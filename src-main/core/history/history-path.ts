import path from 'node:path';
import { defaultConfigPath } from '../profiles/config-path.js';

/** history.sqlite3 next to a config file: every host keeps the two together. */
export function historyPathFor(configPath: string, platform: NodeJS.Platform = process.platform): string {
  const p = platform === 'win32' ? path.win32 : path;
  return p.join(p.dirname(configPath), 'history.sqlite3');
}

/** history.sqlite3 next to the default config file (so ROLECALL_CONFIG moves both). */
export function defaultHistoryPath(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): string {
  return historyPathFor(defaultConfigPath(env, platform), platform);
}
