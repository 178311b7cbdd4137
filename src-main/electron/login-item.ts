import { mkdirSync, rmSync, writeFileSync, existsSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import type { App } from 'electron';

/** The argument a login launch carries, so the app starts in the tray without a window. */
export const HIDDEN_ARG = '--hidden';

/**
 * "Launch at login". Electron's login items cover macOS and Windows only; on
 * Linux the XDG way is a .desktop file in ~/.config/autostart.
 */
export class LaunchAtLogin {
  constructor(
    private readonly app: Pick<App, 'getLoginItemSettings' | 'setLoginItemSettings'>,
    private readonly platform: NodeJS.Platform = process.platform,
    private readonly linux: { autostartFile: string; exec: string } = { autostartFile: autostartFile(), exec: execPath() },
  ) {}

  isEnabled(): boolean {
    if (this.platform === 'linux') return existsSync(this.linux.autostartFile);
    return this.app.getLoginItemSettings().openAtLogin;
  }

  set(enabled: boolean): void {
    if (this.platform === 'linux') {
      if (!enabled) {
        rmSync(this.linux.autostartFile, { force: true });
        return;
      }
      mkdirSync(path.dirname(this.linux.autostartFile), { recursive: true });
      writeFileSync(this.linux.autostartFile, desktopEntry(this.linux.exec), { mode: 0o644 });
      return;
    }
    this.app.setLoginItemSettings({ openAtLogin: enabled, args: [HIDDEN_ARG] });
  }
}

export function autostartFile(env: NodeJS.ProcessEnv = process.env): string {
  const xdg = env.XDG_CONFIG_HOME && path.isAbsolute(env.XDG_CONFIG_HOME) ? env.XDG_CONFIG_HOME : path.join(env.HOME || os.homedir(), '.config');
  return path.join(xdg, 'autostart', 'rolecall.desktop');
}

/** An AppImage runs from a temporary mount: autostart must point at the .AppImage file itself. */
function execPath(env: NodeJS.ProcessEnv = process.env): string {
  return env.APPIMAGE || process.execPath;
}

/**
 * Desktop Entry spec: inside a quoted Exec argument ", `, $ and \ take a
 * backslash; then the whole value is a string whose backslashes double, and
 * % doubles as it introduces field codes.
 */
export function desktopEntry(exec: string): string {
  const argument = exec.replace(/(["`$\\])/g, '\\$1');
  const quoted = `"${argument}"`.replace(/\\/g, '\\\\').replace(/%/g, '%%');
  return [
    '[Desktop Entry]',
    'Type=Application',
    'Name=Rolecall',
    'Comment=Start Rolecall in the tray',
    `Exec=${quoted} ${HIDDEN_ARG}`,
    'Terminal=false',
    'X-GNOME-Autostart-enabled=true',
    '',
  ].join('\n');
}
