import net from 'node:net';
import { rmSync } from 'node:fs';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it, vi } from 'vitest';
import { createAppContext } from '../../src-main/ipc/app-context.js';
import { ProfileStore } from '../../src-main/core/profiles/store.js';
import { createHandlers } from '../../src-main/ipc/handlers/index.js';
import { channels } from '../../src-main/ipc/contract.js';
import { silentLogger } from '../../src-main/core/log.js';
import { MemorySecretStore } from '../../src-main/core/secrets/memory-store.js';
import type { SecretStore } from '../../src-main/core/secrets/secret-store.js';
import type { DirectoryPort, SyncPort } from '../../src-main/core/auth/directory-authenticator.js';
import type { Engine } from '../../src-main/electron/desktop-app.js';
import { acceptsTcp, freePort, tempDir, waitFor } from '../harness/ports.js';

const until = <T>(what: string, probe: () => T | null | Promise<T | null>) =>
  waitFor(what, async () => (await probe()) ?? undefined, 10_000, 20);
import { FakeBrowserWindow, FakeNotification, FakeTray, repoRoot, type ElectronStandIn } from './electron-stand-in.js';

// The Electron main process, wired end to end against a stand-in `electron`
// module (test/unit/electron-stand-in.ts): the Electron binary cannot be
// downloaded or run on this machine. Everything behind it is real: the app
// context, the IPC handlers, the proxy service listening on real ports.
const electron = vi.hoisted(() => ({ current: null as ElectronStandIn | null }));
vi.mock('electron', async () => {
  const { createElectronStandIn } = await import('./electron-stand-in.js');
  electron.current = createElectronStandIn();
  // Each test gets a fresh stand-in; the module's exports read the current one.
  const live = (key: keyof ElectronStandIn) => ({ get: () => electron.current![key], enumerable: true });
  return Object.defineProperties({}, Object.fromEntries(Object.keys(electron.current).map((k) => [k, live(k as keyof ElectronStandIn)])));
});

const { startDesktopApp } = await import('../../src-main/electron/desktop-app.js');
const { createElectronStandIn } = await import('./electron-stand-in.js');

// The proxy never authenticates anyone in these tests; these only satisfy its constructor.
const directory: DirectoryPort = {
  authenticate: () => Promise.reject(new Error('not used')),
  lookup: () => Promise.resolve(null),
  close: () => Promise.resolve(),
};
const sync: SyncPort = {
  syncLogin: () => Promise.reject(new Error('not used')),
  revokeLogin: () => Promise.resolve(),
  minScramIterations: () => Promise.resolve(4096),
  close: () => Promise.resolve(),
};

let dir: string;
let e: ElectronStandIn;
let engineClosed: boolean;
beforeEach(() => {
  e = createElectronStandIn();
  electron.current = e;
  dir = tempDir('electron-main');
  engineClosed = false;
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

async function createEngine(secrets: SecretStore = new MemorySecretStore()): Promise<Engine> {
  const ctx = await createAppContext({
    configPath: path.join(dir, 'config.json'),
    secrets,
    historyPath: ':memory:',
    logger: silentLogger,
    version: '0.0.0-test',
    env: { HOME: dir },
    tlsDir: path.join(dir, 'tls'),
    service: { directoryFor: () => directory, syncFor: () => sync },
  });
  return {
    handlers: createHandlers(ctx),
    service: ctx.service,
    close: async () => {
      engineClosed = true;
      await ctx.close();
    },
  };
}

async function start(argv: string[] = [], secrets?: SecretStore) {
  const desktop = await startDesktopApp({ createEngine: () => createEngine(secrets), argv, quitGraceMs: 200 });
  if (!desktop) throw new Error('expected the app to start');
  return desktop;
}

const appPage = `file://${path.join(repoRoot, 'dist', 'renderer', 'index.html')}#/status`;

async function addProfile(id: string, port: number) {
  const saved = await e.ipcMain.invoke(`rolecall:invoke:profiles.save`, appPage, {
    profile: {
      id,
      name: `Profile ${id}`,
      directory: { url: 'ldap://127.0.0.1:1', bindDn: 'cn=svc,dc=test', baseDn: 'dc=test' },
      database: { host: '127.0.0.1', database: 'app' },
      listen: { port },
    },
  });
  expect(saved, JSON.stringify(saved)).toMatchObject({ ok: true });
  for (const name of ['ldap-bind', 'sync']) {
    expect(await e.ipcMain.invoke('rolecall:invoke:secrets.set', appPage, { profileId: id, name, value: 'pw' })).toMatchObject({ ok: true });
  }
}

type MenuItem = { label?: string; type?: string; checked?: boolean; click?: () => void };
const trayMenu = () => ((FakeTray.instances[0]!.menu as { template: MenuItem[] }).template);

describe('Electron main process', () => {
  it('takes the single-instance lock; a second launch only quits, and the first shows its window', async () => {
    const desktop = await start();
    expect(e.app.lockRequested).toBe(1);
    const win = FakeBrowserWindow.instances[0]!;
    win.userClose();
    expect(win.visible).toBe(false);
    e.app.emit('second-instance');
    expect(win.visible).toBe(true);
    await desktop.onTrayAction({ type: 'quit' });
    await until('the app to quit', () => e.app.quitted || null);

    // The second process: the lock is taken, it quits before creating anything.
    const second = createElectronStandIn();
    electron.current = second;
    second.app.singleInstanceLock = false;
    expect(await startDesktopApp({ createEngine: () => Promise.reject(new Error('must not create an engine')) })).toBeNull();
    expect(second.app.quitted).toBe(true);
    expect(FakeBrowserWindow.instances).toHaveLength(0);
    expect(second.ipcMain.handlers.size).toBe(0);
  });

  it('opens one window, locked down: isolated, sandboxed, no Node, no navigation, no popups, no permissions', async () => {
    await start();
    expect(FakeBrowserWindow.instances).toHaveLength(1);
    const win = FakeBrowserWindow.instances[0]!;
    expect(win.options.webPreferences).toMatchObject({
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      preload: path.join(repoRoot, 'dist', 'main', 'preload.cjs'),
    });
    expect(win.loads[0]).toEqual({ file: path.join(repoRoot, 'dist', 'renderer', 'index.html'), options: { hash: '/status' } });
    win.emit('ready-to-show');
    expect(win.visible).toBe(true);

    const wc = win.webContents;
    expect(wc.fire('will-navigate', 'https://evil.example/')).toBe(true);
    expect(wc.fire('will-redirect', 'https://evil.example/')).toBe(true);
    expect(wc.fire('will-attach-webview', {}, {})).toBe(true);
    expect(wc.windowOpenHandler!({ url: 'https://www.postgresql.org/docs/' })).toEqual({ action: 'deny' });
    expect(wc.windowOpenHandler!({ url: 'file:///etc/passwd' })).toEqual({ action: 'deny' });
    expect(e.opened).toEqual(['https://www.postgresql.org/docs/']); // https links go to the user's browser, nothing else does

    const ses = e.session.defaultSession;
    const asked = (permission: string) =>
      new Promise<boolean>((resolve) => ses.permissionRequest!(wc, permission, resolve, {}));
    for (const p of ['media', 'geolocation', 'notifications', 'clipboard-read', 'openExternal', 'hid']) expect(await asked(p)).toBe(false);
    expect(await asked('clipboard-sanitized-write')).toBe(true);
    expect(ses.permissionCheck!(wc, 'clipboard-read', 'file://', {})).toBe(false);

    let headers: unknown;
    ses.headersListener!({ responseHeaders: { 'Content-Type': ['text/html'] } }, (r) => (headers = r));
    expect(headers).toMatchObject({ responseHeaders: { 'Content-Security-Policy': [expect.stringContaining("script-src 'self'")] } });
  });

  it('registers a handler for every channel of the contract, answers the app page and refuses any other', async () => {
    await start();
    expect([...e.ipcMain.handlers.keys()].sort()).toEqual(channels.map((c) => `rolecall:invoke:${c}`).sort());
    expect(await e.ipcMain.invoke('rolecall:invoke:profiles.list', appPage, {})).toEqual({ ok: true, value: [] });
    for (const url of ['https://evil.example/', 'file:///tmp/index.html', null]) {
      expect(await e.ipcMain.invoke('rolecall:invoke:profiles.list', url, {})).toMatchObject({ ok: false, error: { code: 'refused' } });
    }
    // Invalid input comes back as a typed error, never as a rejected call.
    expect(await e.ipcMain.invoke('rolecall:invoke:profiles.get', appPage, { id: '../etc' })).toMatchObject({ ok: false, error: { code: 'invalid' } });
  });

  it('closing the window keeps the app (and its proxies) running in the tray', async () => {
    const desktop = await start();
    const port = await freePort();
    await addProfile('hr', port);
    expect(await e.ipcMain.invoke('rolecall:invoke:proxies.start', appPage, { id: 'hr' })).toMatchObject({ ok: true, value: { state: 'running' } });
    const win = FakeBrowserWindow.instances[0]!;
    win.userClose();
    expect(win.destroyed).toBe(false);
    expect(e.app.quitted).toBe(false);
    expect(await acceptsTcp(port)).toBe(true);
    // "Open Rolecall…" brings the window back where the user left it (no reload, no page change).
    const loads = win.loads.length;
    await desktop.onTrayAction({ type: 'open' });
    expect(win.visible).toBe(true);
    expect(win.loads).toHaveLength(loads);
    await desktop.onTrayAction({ type: 'open', page: 'history' });
    expect(win.loads.at(-1)).toMatchObject({ options: { hash: '/history' } });
    await desktop.onTrayAction({ type: 'quit' });
    await until('the app to quit', () => e.app.quitted || null);
  });

  it('drives proxies from the tray, reflects them in icon and menu, and pushes status to the window', async () => {
    const desktop = await start();
    const port = await freePort();
    await addProfile('hr', port);
    await desktop.refreshTray();
    const tray = FakeTray.instances[0]!;
    expect(tray.image).toEqual({ path: path.join(repoRoot, 'build', 'tray', 'tray-stopped.png') });
    const row = trayMenu().find((i) => i.label?.startsWith('Profile hr'))!;
    expect(row).toMatchObject({ type: 'checkbox', checked: false, label: `Profile hr — port ${port}` });

    row.click!();
    await until('the listener', () => acceptsTcp(port).then((ok) => ok || null));
    await desktop.refreshTray();
    expect(tray.image).toEqual({ path: path.join(repoRoot, 'build', 'tray', 'tray-running.png') });
    expect(tray.tooltip).toBe('Rolecall — 1 proxy running, 0 connections');
    expect(trayMenu().find((i) => i.label?.startsWith('Profile hr'))).toMatchObject({ checked: true, label: `Profile hr — port ${port} — 0 active` });

    const sent = FakeBrowserWindow.instances[0]!.webContents.sent;
    expect(sent.filter((s) => s.channel === 'rolecall:event:proxies.status').map((s) => (s.payload as { state: string }).state)).toEqual(
      expect.arrayContaining(['starting', 'running']),
    );

    trayMenu().find((i) => i.label?.startsWith('Profile hr'))!.click!();
    await until('the listener to close', () => acceptsTcp(port).then((ok) => !ok || null));
    await desktop.refreshTray();
    expect(tray.image).toEqual({ path: path.join(repoRoot, 'build', 'tray', 'tray-stopped.png') });
  });

  it('Quit stops every proxy and closes the engine before the app exits', async () => {
    const desktop = await start();
    const ports = [await freePort(), await freePort()];
    await addProfile('one', ports[0]!);
    await addProfile('two', ports[1]!);
    for (const id of ['one', 'two']) await e.ipcMain.invoke('rolecall:invoke:proxies.start', appPage, { id });
    expect(await Promise.all(ports.map(acceptsTcp))).toEqual([true, true]);

    await desktop.onTrayAction({ type: 'quit' });
    // The first quit is held until the proxies are down.
    expect(e.app.quitted).toBe(false);
    await until('the app to quit', () => e.app.quitted || null);
    expect(await Promise.all(ports.map(acceptsTcp))).toEqual([false, false]);
    expect(engineClosed).toBe(true);
    expect(e.ipcMain.handlers.size).toBe(0);
    expect(FakeTray.instances[0]!.destroyed).toBe(true);
  });

  it('notifies a denied connection with its reason, and a tray start that failed', async () => {
    const desktop = await start();
    await addProfile('hr', await freePort());
    await desktop.refreshTray();
    // An engine event as the proxy emits it after a denial.
    (desktop.engine.service as unknown as { emit(e: string, p: unknown): void }).emit('connection', {
      profileId: 'hr',
      outcome: 'denied',
      sqlstate: '28000',
      message: '"alice" is not in any group allowed on this database',
      session: { login: 'alice', typedLogin: 'alice' },
    });
    expect(FakeNotification.instances.map((n) => n.options)).toEqual([
      { title: 'Rolecall denied alice on Profile hr', body: '"alice" is not in any group allowed on this database (SQLSTATE 28000)' },
    ]);
    expect(FakeNotification.instances[0]!.shown).toBe(true);
    FakeNotification.instances[0]!.emit('click');
    expect(FakeBrowserWindow.instances[0]!.loads.at(-1)).toMatchObject({ options: { hash: '/history' } });

    // Port taken by another program since the profile was saved: the start fails and the user is told why.
    const busy = await freePort();
    await addProfile('busy', busy);
    const blocker = net.createServer();
    await new Promise<void>((r) => blocker.listen(busy, '127.0.0.1', r));
    try {
      await desktop.onTrayAction({ type: 'start', profileId: 'busy' });
      await until('a notification', () => FakeNotification.instances.find((n) => n.options.title.includes('busy')) ?? null);
      const note = FakeNotification.instances.find((n) => n.options.title.includes('busy'))!;
      expect(note.options.body).toMatch(new RegExp(`port ${busy}.*already in use`));
      // One notification for one failure, though both the status and the tray's start saw it.
      await new Promise((r) => setTimeout(r, 100));
      expect(FakeNotification.instances.filter((n) => n.options.title.includes('busy'))).toHaveLength(1);
    } finally {
      blocker.close();
    }
  });

  it('applies saved settings from the tray\'s Restart to apply, and tells about a broker that cannot be reached', async () => {
    const desktop = await start();
    const [before, after] = [await freePort(), await freePort()];
    await addProfile('hr', before);
    await e.ipcMain.invoke('rolecall:invoke:proxies.start', appPage, { id: 'hr' });
    // Saved behind the running proxy (as a save with clients connected leaves it): the tray's item applies it.
    const store = new ProfileStore(path.join(dir, 'config.json'));
    const loaded = await store.load();
    if (!loaded.ok) throw new Error('config');
    expect(await store.upsertProfile({ ...loaded.config.profiles[0]!, listen: { ...loaded.config.profiles[0]!.listen, port: after } })).toBeNull();
    await desktop.onTrayAction({ type: 'restart', profileId: 'hr' });
    expect(await acceptsTcp(after)).toBe(true);
    expect(await acceptsTcp(before)).toBe(false);

    (desktop.engine.service as unknown as { emit(e: string, p: unknown): void }).emit('broker', {
      kind: 'unreachable',
      profileId: 'hr',
      profileName: 'Profile hr',
      login: 'alice',
      message: 'the team broker at https://broker.corp.test is not reachable',
    });
    expect(FakeNotification.instances.at(-1)!.options).toEqual({
      title: "Rolecall cannot reach your team's broker (Profile hr)",
      body: 'the team broker at https://broker.corp.test is not reachable. Check your VPN or network; other profiles keep working, and nothing needs a restart when it is back.',
    });
    await desktop.onTrayAction({ type: 'quit' });
    await until('the app to quit', () => e.app.quitted || null);
  });

  it('tells a user once a day that their directory password expires soon; the notification opens the Status page', async () => {
    const desktop = await start();
    await addProfile('hr', await freePort());
    const passwordWarning = { login: 'alice', expiresAt: '2026-12-04T10:00:00.000Z', daysLeft: 3, message: 'your directory password expires in 3 days', hint: 'Change it before 2026-12-04 10:00 UTC.' };
    // The engine's event for a sign-in whose client was sent the expiry notice, twice (psql, then an IDE).
    for (let i = 0; i < 2; i++) {
      (desktop.engine.service as unknown as { emit(e: string, p: unknown): void }).emit('connection', {
        profileId: 'hr',
        outcome: 'success',
        sqlstate: null,
        message: null,
        session: { login: 'alice', typedLogin: 'alice', passwordWarning },
      });
    }
    expect(FakeNotification.instances.map((n) => n.options)).toEqual([
      { title: 'Rolecall (alice): your directory password expires in 3 days', body: 'Change it before 2026-12-04 10:00 UTC.' },
    ]);
    FakeNotification.instances[0]!.emit('click');
    expect(FakeBrowserWindow.instances[0]!.loads.at(-1)).toMatchObject({ options: { hash: '/status' } });
  });

  it('says plainly at startup when the OS keychain cannot be used', async () => {
    const broken: SecretStore = Object.assign(new MemorySecretStore(), {
      has: () => Promise.reject(new Error('no Secret Service on the session bus')),
      describe: () => 'Secret Service via keytar',
    });
    await start([], broken);
    const note = FakeNotification.instances.find((n) => n.options.title === 'Rolecall cannot reach the OS keychain');
    expect(note?.options.body).toMatch(/no Secret Service on the session bus/);
    expect(note?.options.body).toMatch(/never stores passwords in files/);
  });

  it('starts in the tray without a window when launched at login, if there is something to run', async () => {
    const desktop = await start(['--hidden']);
    // No profile yet: the window opens anyway, there is nothing to do from the tray.
    expect(FakeBrowserWindow.instances).toHaveLength(1);
    await addProfile('hr', await freePort());
    await desktop.onTrayAction({ type: 'quit' });
    await until('the app to quit', () => e.app.quitted || null);

    electron.current = e = createElectronStandIn();
    const again = await start(['--hidden']);
    expect(FakeBrowserWindow.instances).toHaveLength(0);
    expect(FakeTray.instances).toHaveLength(1);
    e.app.emit('second-instance');
    expect(FakeBrowserWindow.instances).toHaveLength(1);
    await again.onTrayAction({ type: 'quit' });
    await until('the app to quit', () => e.app.quitted || null);
  });
});
