import { app, ipcMain, Notification, powerMonitor, session } from 'electron';
import type { ConnectionEvent, ProxyStatus } from '../core/proxy/profile-proxy.js';
import type { BrokerTroubleEvent } from '../core/service.js';
import type { BrokerEventSource, ProxyEventSource } from '../ipc/event-source.js';
import type { HandlerMap } from '../ipc/handlers/types.js';
import { forwardProxyEvents, registerIpcHandlers } from './ipc-adapter.js';
import { LaunchAtLogin, HIDDEN_ARG } from './login-item.js';
import { DesktopNotifier } from './notifications.js';
import { appPaths, isAppPage, type AppPaths } from './paths.js';
import { watchPowerAndNetwork } from './power.js';
import { describeRecheck, recheckProxies, type RecheckableService } from './recheck.js';
import { hardenSession } from './session-security.js';
import { AppTray } from './tray.js';
import type { TrayAction } from './tray-model.js';
import { MainWindow } from './windows.js';

/** What the host needs from the engine: the contract's handlers and the proxy service behind them. */
export interface Engine {
  handlers: HandlerMap;
  service: ProxyEventSource & BrokerEventSource & RecheckableService & { stopAll(graceMs?: number): Promise<void> };
  /** Closes the history database and whatever else the context opened. */
  close(): Promise<void> | void;
}

export interface DesktopAppOptions {
  createEngine(paths: AppPaths): Promise<Engine>;
  argv?: readonly string[];
  /** Open sessions get this long to finish when the user quits. */
  quitGraceMs?: number;
}

/** What tests (and nothing else) look at. */
export interface DesktopApp {
  engine: Engine;
  window: MainWindow;
  tray: AppTray | null;
  refreshTray(): Promise<void>;
  onTrayAction(action: TrayAction): Promise<void>;
}

/**
 * The Electron host, start to quit: one instance, the engine in this process,
 * IPC, tray, window, notifications, sleep/network rechecks, clean shutdown.
 * Returns null when another instance already runs (that one shows its window).
 */
export async function startDesktopApp(options: DesktopAppOptions): Promise<DesktopApp | null> {
  if (!app.requestSingleInstanceLock()) {
    app.quit();
    return null;
  }
  const argv = options.argv ?? process.argv;
  const paths = appPaths(app.getAppPath(), process.resourcesPath, app.isPackaged);
  const window = new MainWindow(paths);
  // Until IPC is wired a window could not do anything: a launch before then is answered when startup ends.
  let started = false;
  let shownOnRequest = false;
  app.on('second-instance', () => {
    if (started) window.show();
    else shownOnRequest = true;
  });
  // macOS: clicking the dock icon with no window open.
  app.on('activate', () => {
    if (started) window.show();
  });
  // Closing the window keeps the app (and its proxies) running in the tray; only Quit ends it.
  app.on('window-all-closed', () => undefined);

  await app.whenReady();
  hardenSession(session.defaultSession);
  const engine = await options.createEngine(paths);
  const launchAtLogin = new LaunchAtLogin(app);

  const notifier = new DesktopNotifier({
    show(note) {
      if (!Notification.isSupported()) return;
      const n = new Notification({ title: note.title, body: note.body });
      n.on('click', () => window.show(note.page));
      n.show();
    },
  });

  let tray: AppTray | null = null;
  let profileNames = new Map<string, string>();
  const refreshTray = async () => {
    const listed = await engine.handlers['profiles.list']({});
    const profiles = listed.ok ? listed.value : [];
    profileNames = new Map(profiles.map((p) => [p.id, p.name]));
    tray?.update({ profiles, statuses: engine.service.status(), launchAtLogin: launchAtLogin.isEnabled() });
  };
  const refreshSoon = coalesce(refreshTray, 150);

  const onTrayAction = async (action: TrayAction): Promise<void> => {
    switch (action.type) {
      case 'open':
        window.show(action.page);
        return;
      case 'start': {
        const r = await engine.handlers['proxies.start']({ id: action.profileId });
        // A listen failure already notified through the proxy's error status; a missing secret did not.
        const shown = engine.service.status().some((s) => s.profileId === action.profileId && s.state === 'error');
        if (!r.ok && !shown) notifier.notice(`start:${action.profileId}`, `Rolecall could not start ${profileNames.get(action.profileId) ?? action.profileId}`, r.error.message);
        refreshSoon();
        return;
      }
      case 'stop':
        await engine.handlers['proxies.stop']({ id: action.profileId });
        refreshSoon();
        return;
      case 'restart': {
        // Open sessions get the usual grace, as with the window's Restart button.
        const r = await engine.handlers['proxies.restart']({ id: action.profileId });
        if (!r.ok) notifier.notice(`restart:${action.profileId}`, `Rolecall could not restart ${profileNames.get(action.profileId) ?? action.profileId}`, r.error.message);
        refreshSoon();
        return;
      }
      case 'launch-at-login':
        launchAtLogin.set(action.enabled);
        refreshSoon();
        return;
      case 'quit':
        app.quit();
        return;
    }
  };

  try {
    tray = new AppTray(paths.trayIcons, (a) => void onTrayAction(a));
  } catch {
    // No tray on this desktop: the window (opened below) is the way in.
    tray = null;
  }

  const unregisterIpc = registerIpcHandlers(ipcMain, engine.handlers, {
    isTrustedSender: (url) => isAppPage(url, paths.indexHtml),
    onHandled: (channel) => {
      if (channel.startsWith('profiles.') || channel.startsWith('proxies.') || channel.startsWith('secrets.')) refreshSoon();
    },
  });
  const stopForwarding = forwardProxyEvents(engine.service, () => window.webContents());
  const onStatus = (s: ProxyStatus) => {
    notifier.status(s);
    refreshSoon();
  };
  const onConnection = (e: ConnectionEvent) => notifier.connection(e, profileNames.get(e.profileId) ?? e.profileId);
  const onBroker = (e: BrokerTroubleEvent) => notifier.broker(e);
  engine.service.on('status', onStatus);
  engine.service.on('connection', onConnection);
  engine.service.on('broker', onBroker);

  const stopWatching = watchPowerAndNetwork({
    powerMonitor,
    recheck: async (reason) => {
      const report = await recheckProxies(engine.service);
      const text = describeRecheck(report);
      if (text) notifier.notice('recheck', `Rolecall checked its proxies after ${reason}`, text);
      refreshSoon();
    },
  });

  await refreshTray();
  await reportKeychain(engine, notifier);

  let quit: 'running' | 'stopping' | 'done' = 'running';
  app.on('before-quit', (event) => {
    if (quit === 'done') return;
    // Hold the quit until the proxies have stopped, then quit again for real.
    event.preventDefault();
    if (quit === 'stopping') return;
    quit = 'stopping';
    window.allowClose();
    void (async () => {
      stopWatching();
      stopForwarding();
      engine.service.off('status', onStatus);
      engine.service.off('connection', onConnection);
      engine.service.off('broker', onBroker);
      // Open sessions get a grace period, then are closed; never hang the quit on them.
      const grace = options.quitGraceMs ?? 3000;
      await Promise.race([engine.service.stopAll(grace).catch(() => undefined), delay(grace + 2000)]);
      unregisterIpc();
      tray?.destroy();
      tray = null;
      await engine.close();
    })()
      .catch(() => undefined)
      .finally(() => {
        quit = 'done';
        app.quit();
      });
  });

  // A login launch starts in the tray. Everything else opens the window: the first launch,
  // a launch with no profiles yet, and desktops where the tray may be hidden (GNOME
  // without AppIndicator) — Electron cannot tell whether a tray icon is visible.
  const hidden = argv.includes(HIDDEN_ARG) || (process.platform === 'darwin' && app.getLoginItemSettings().wasOpenedAtLogin === true);
  started = true;
  if (!hidden || shownOnRequest || !tray || profileNames.size === 0) window.show('status');

  return { engine, window, tray, refreshTray, onTrayAction };
}

async function reportKeychain(engine: Engine, notifier: DesktopNotifier): Promise<void> {
  const info = await engine.handlers['app.info']({});
  if (!info.ok || info.value.keychain.available) return;
  // Plainly, at startup: the app never falls back to storing secrets in files (the message says so too).
  notifier.notice('keychain', 'Rolecall cannot reach the OS keychain', info.value.keychain.message);
}

/** Runs fn at most once per `ms`, after the last call in a burst. */
function coalesce(fn: () => Promise<void>, ms: number): () => void {
  let timer: NodeJS.Timeout | null = null;
  return () => {
    if (timer) clearTimeout(timer);
    timer = setTimeout(() => {
      timer = null;
      void fn().catch(() => undefined);
    }, ms);
  };
}

function delay(ms: number): Promise<void> {
  return new Promise((resolve) => setTimeout(resolve, ms).unref());
}
