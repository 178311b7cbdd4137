import { existsSync } from 'node:fs';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { freePort, acceptsTcp, waitFor } from '../harness/ports.js';
import { run } from '../harness/run.js';
import { FakeBrowserWindow, FakeTray, repoRoot, type ElectronStandIn } from '../unit/electron-stand-in.js';

// `npm start -- --demo`: the desktop app on the demo. The Electron binary cannot run here, so the
// host runs against the stand-in `electron` module (test/unit/electron-stand-in.ts), as in the other
// Electron tests; everything else is real: `rolecall demo --for-desktop` in its own process (the
// directory, PostgreSQL 18, the broker), the app's engine as the laptop, psql through its proxy.
const electron = vi.hoisted(() => ({ current: null as ElectronStandIn | null }));
vi.mock('electron', async () => {
  const { createElectronStandIn } = await import('../unit/electron-stand-in.js');
  electron.current = createElectronStandIn();
  const live = (key: keyof ElectronStandIn) => ({ get: () => electron.current![key], enumerable: true });
  return Object.defineProperties({}, Object.fromEntries(Object.keys(electron.current).map((k) => [k, live(k as keyof ElectronStandIn)])));
});

const { startDesktopApp } = await import('../../src-main/electron/desktop-app.js');
const { createEngine, DEMO_ARG } = await import('../../src-main/electron/engine.js');

const appPage = `file://${path.join(repoRoot, 'dist', 'renderer', 'index.html')}#/status`;
let quit: (() => Promise<void>) | undefined;

afterAll(async () => {
  await quit?.();
});

describe('the desktop app with --demo', () => {
  it('refuses the demo in a packaged app, which ships no demo servers', async () => {
    await expect(createEngine({ indexHtml: '', preload: '', trayIcons: '', sqlDir: '' }, 'x', [DEMO_ARG], { cli: 'none', packaged: true })).rejects.toThrow(
      /The demo runs from a source checkout: `npm start -- --demo`/,
    );
  });

  it('starts the demo\'s servers in their own process, runs the broker profile itself with no secret, and psql signs in through it', async () => {
    const port = await freePort();
    let configPath = '';
    const desktop = await startDesktopApp({
      argv: ['electron', '.', DEMO_ARG],
      quitGraceMs: 200,
      createEngine: async (paths) => {
        const engine = await createEngine(paths, '0.0.0-test', ['electron', '.', DEMO_ARG], { cli: path.join(repoRoot, 'bin', 'rolecall.mjs'), execPath: process.execPath, port });
        const info = await engine.handlers['app.info']({});
        if (info.ok) configPath = info.value.configPath;
        return engine;
      },
    });
    if (!desktop) throw new Error('expected the app to start');
    const e = electron.current!;
    quit = async () => {
      await desktop.onTrayAction({ type: 'quit' });
      await waitFor('the app to quit', async () => (e.app.quitted ? true : undefined), 60_000, 50);
    };

    // The window opens on Status; the engine behind it runs the demo's broker profile.
    expect(FakeBrowserWindow.instances.at(-1)!.loads[0]).toMatchObject({ options: { hash: '/status' } });
    const status = await e.ipcMain.invoke('rolecall:invoke:proxies.status', appPage, {});
    expect(status).toMatchObject({ ok: true, value: [{ profileId: 'demo', mode: 'broker', state: 'running', port }] });
    const profile = await e.ipcMain.invoke('rolecall:invoke:profiles.get', appPage, { id: 'demo' });
    expect(profile).toMatchObject({ ok: true, value: { mode: 'broker', broker: { urls: [expect.stringMatching(/^https:\/\/127\.0\.0\.1:\d+$/)] } } });
    expect(await e.ipcMain.invoke('rolecall:invoke:secrets.has', appPage, { profileId: 'demo' })).toEqual({ ok: true, value: { ldapBind: false, sync: false } });
    await desktop.refreshTray();
    expect((FakeTray.instances.at(-1)!.menu as { template: { label?: string }[] }).template[0]!.label).toBe(`Rolecall demo (HR database, team broker) — port ${port} — 0 active`);

    const r = await run('psql', ['-X', '-At', '-c', 'select current_user', `host=127.0.0.1 port=${port} dbname=hr user=alice`], {
      env: { PATH: process.env.PATH ?? '', PGPASSWORD: 'alice-pass', PGCONNECT_TIMEOUT: '10' },
    });
    expect(r.stdout + r.stderr).toBe('alice\n');
    const creds = await e.ipcMain.invoke('rolecall:invoke:proxies.status', appPage, {});
    expect(creds).toMatchObject({ ok: true, value: [{ brokerCredentials: [{ login: 'alice' }] }] });

    // Quit stops the proxy, then the demo's servers, and removes what they created.
    const q = quit;
    quit = undefined;
    await q();
    expect(await acceptsTcp(port)).toBe(false);
    expect(existsSync(path.dirname(configPath))).toBe(false);
  });
});
