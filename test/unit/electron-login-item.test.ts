import { existsSync, readFileSync, rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { autostartFile, desktopEntry, LaunchAtLogin } from '../../src-main/electron/login-item.js';
import { tempDir } from '../harness/ports.js';

// "Launch at login": Electron's login items on macOS/Windows (a stand-in app
// object here, no Electron binary on this machine), an XDG autostart file on Linux.

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function fakeApp() {
  const calls: unknown[] = [];
  let openAtLogin = false;
  return {
    calls,
    app: {
      getLoginItemSettings: () => ({ openAtLogin }) as ReturnType<Electron.App['getLoginItemSettings']>,
      setLoginItemSettings: (s: Electron.Settings) => {
        calls.push(s);
        openAtLogin = s.openAtLogin ?? false;
      },
    },
  };
}

describe('LaunchAtLogin', () => {
  it('on Linux writes and removes ~/.config/autostart/rolecall.desktop, starting hidden in the tray', () => {
    const home = tempDir('autostart');
    dirs.push(home);
    const file = autostartFile({ HOME: home });
    expect(file).toBe(path.join(home, '.config', 'autostart', 'rolecall.desktop'));
    const { app, calls } = fakeApp();
    const login = new LaunchAtLogin(app, 'linux', { autostartFile: file, exec: '/opt/Rolecall/rolecall-desktop' });
    expect(login.isEnabled()).toBe(false);
    login.set(true);
    expect(login.isEnabled()).toBe(true);
    const text = readFileSync(file, 'utf8');
    expect(text).toMatch(/^\[Desktop Entry\]\n/);
    expect(text).toContain('Exec="/opt/Rolecall/rolecall-desktop" --hidden\n');
    login.set(false);
    expect(existsSync(file)).toBe(false);
    expect(login.isEnabled()).toBe(false);
    expect(calls).toEqual([]);
  });

  it('honours an absolute XDG_CONFIG_HOME and ignores a relative one', () => {
    expect(autostartFile({ HOME: '/home/u', XDG_CONFIG_HOME: '/x/cfg' })).toBe('/x/cfg/autostart/rolecall.desktop');
    expect(autostartFile({ HOME: '/home/u', XDG_CONFIG_HOME: 'cfg' })).toBe('/home/u/.config/autostart/rolecall.desktop');
  });

  it('escapes an executable path with spaces, quotes, $ and % as the Desktop Entry spec says', () => {
    const line = desktopEntry('/home/a b/My "Apps"/$HOME/100%/Rolecall.AppImage').split('\n').find((l) => l.startsWith('Exec='));
    expect(line).toBe('Exec="/home/a b/My \\\\"Apps\\\\"/\\\\$HOME/100%%/Rolecall.AppImage" --hidden');
  });

  it('on macOS and Windows uses Electron login items with the hidden flag', () => {
    const { app, calls } = fakeApp();
    const login = new LaunchAtLogin(app, 'win32');
    login.set(true);
    expect(login.isEnabled()).toBe(true);
    expect(calls).toEqual([{ openAtLogin: true, args: ['--hidden'] }]);
  });
});
