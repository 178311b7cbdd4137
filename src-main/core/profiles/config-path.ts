import os from 'node:os';
import path from 'node:path';

/**
 * Where the config file lives: the OS's per-user app config directory, or
 * ROLECALL_CONFIG when set. env and platform are parameters so every OS's
 * answer can be tested on any OS.
 */
export function defaultConfigPath(
  env: NodeJS.ProcessEnv = process.env,
  platform: NodeJS.Platform = process.platform,
): string {
  if (env.ROLECALL_CONFIG) return path.resolve(env.ROLECALL_CONFIG);
  if (platform === 'win32') {
    const appData = env.APPDATA || path.win32.join(env.USERPROFILE || os.homedir(), 'AppData', 'Roaming');
    return path.win32.join(appData, 'Rolecall', 'config.json');
  }
  const home = env.HOME || os.homedir();
  if (platform === 'darwin') {
    return path.posix.join(home, 'Library', 'Application Support', 'Rolecall', 'config.json');
  }
  // XDG says a relative XDG_CONFIG_HOME is invalid and must be ignored.
  const xdg = env.XDG_CONFIG_HOME && path.posix.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : undefined;
  return path.posix.join(xdg ?? path.posix.join(home, '.config'), 'rolecall', 'config.json');
}
