import path from 'node:path';
import { defaultConfigPath } from '../profiles/config-path.js';

/** history.sqlite3 next to the config file (so ROLECALL_CONFIG moves both). */
export function defaultHistoryPath(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): string {
  const config = defaultConfigPath(env, platform);
  const p = platform === 'win32' ? path.win32 : path;
  return p.join(p.dirname(config), 'history.sqlite3');
}
