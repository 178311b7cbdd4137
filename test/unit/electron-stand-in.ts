import { EventEmitter } from 'node:events';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * A stand-in for the `electron` module. The Electron binary cannot be
 * downloaded or run on this machine (installed with
 * ELECTRON_SKIP_BINARY_DOWNLOAD=1, so `require('electron')` throws), so the
 * host's wiring is tested against this: it records what the code asks of
 * Electron (windows and their options, IPC handlers, tray menus,
 * notifications, permission handlers) and lets tests fire Electron's events.
 * It implements only what src-main/electron uses; the code is type-checked
 * against Electron's real typings separately (tsc).
 */

export const repoRoot = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export class FakeEvent {
  defaultPrevented = false;
  preventDefault(): void {
    this.defaultPrevented = true;
  }
}

type Handler = (event: unknown, ...args: unknown[]) => unknown;

export class FakeWebContents extends EventEmitter {
  sent: { channel: string; payload: unknown }[] = [];
  windowOpenHandler: ((details: { url: string }) => { action: string }) | null = null;
  destroyed = false;
  setWindowOpenHandler(handler: (details: { url: string }) => { action: string }): void {
    this.windowOpenHandler = handler;
  }
  send(channel: string, payload: unknown): void {
    this.sent.push({ channel, payload });
  }
  isDestroyed(): boolean {
    return this.destroyed;
  }
  /** Fires a cancellable event the way Electron does; answers whether a listener prevented it. */
  fire(name: string, ...args: unknown[]): boolean {
    const event = new FakeEvent();
    this.emit(name, event, ...args);
    return event.defaultPrevented;
  }
}

export class FakeBrowserWindow extends EventEmitter {
  static instances: FakeBrowserWindow[] = [];
  readonly webContents = new FakeWebContents();
  loads: { file: string; options: unknown }[] = [];
  visible = false;
  focused = false;
  destroyed = false;
  constructor(readonly options: Record<string, unknown>) {
    super();
    FakeBrowserWindow.instances.push(this);
  }
  loadFile(file: string, options?: unknown): Promise<void> {
    this.loads.push({ file, options });
    return Promise.resolve();
  }
  show(): void {
    this.visible = true;
  }
  hide(): void {
    this.visible = false;
  }
  focus(): void {
    this.focused = true;
  }
  isMinimized(): boolean {
    return false;
  }
  restore(): void {}
  isDestroyed(): boolean {
    return this.destroyed;
  }
  isVisible(): boolean {
    return this.visible;
  }
  /** What the user's click on the window's close button does. */
  userClose(): void {
    const event = new FakeEvent();
    this.emit('close', event);
    if (event.defaultPrevented) return;
    this.destroyed = true;
    this.webContents.destroyed = true;
    this.emit('closed');
  }
}

export class FakeTray extends EventEmitter {
  static instances: FakeTray[] = [];
  image: unknown;
  tooltip = '';
  menu: unknown = null;
  destroyed = false;
  constructor(image: unknown) {
    super();
    this.image = image;
    FakeTray.instances.push(this);
  }
  setImage(image: unknown): void {
    this.image = image;
  }
  setToolTip(text: string): void {
    this.tooltip = text;
  }
  setContextMenu(menu: unknown): void {
    this.menu = menu;
  }
  destroy(): void {
    this.destroyed = true;
  }
}

export class FakeNotification extends EventEmitter {
  static instances: FakeNotification[] = [];
  static supported = true;
  shown = false;
  constructor(readonly options: { title: string; body: string }) {
    super();
    FakeNotification.instances.push(this);
  }
  static isSupported(): boolean {
    return FakeNotification.supported;
  }
  show(): void {
    this.shown = true;
  }
}

class FakeApp extends EventEmitter {
  singleInstanceLock = true;
  lockRequested = 0;
  quitRequests = 0;
  /** True once a quit went through (no before-quit listener held it). */
  quitted = false;
  exitCode: number | null = null;
  loginItem = { openAtLogin: false, wasOpenedAtLogin: false };
  isPackaged = false;
  requestSingleInstanceLock(): boolean {
    this.lockRequested++;
    return this.singleInstanceLock;
  }
  whenReady(): Promise<void> {
    return Promise.resolve();
  }
  getAppPath(): string {
    return repoRoot;
  }
  getVersion(): string {
    return '0.0.0-test';
  }
  getLoginItemSettings() {
    return { ...this.loginItem };
  }
  setLoginItemSettings(settings: { openAtLogin: boolean }): void {
    this.loginItem.openAtLogin = settings.openAtLogin;
  }
  quit(): void {
    this.quitRequests++;
    const event = new FakeEvent();
    this.emit('before-quit', event);
    if (!event.defaultPrevented) this.quitted = true;
  }
  exit(code: number): void {
    this.exitCode = code;
  }
}

class FakeIpcMain {
  handlers = new Map<string, Handler>();
  handle(channel: string, handler: Handler): void {
    if (this.handlers.has(channel)) throw new Error(`Attempted to register a second handler for '${channel}'`);
    this.handlers.set(channel, handler);
  }
  removeHandler(channel: string): void {
    this.handlers.delete(channel);
  }
  /** Calls a handler as a renderer frame at `url` would. */
  invoke(channel: string, url: string | null, ...args: unknown[]): Promise<unknown> {
    const handler = this.handlers.get(channel);
    if (!handler) return Promise.reject(new Error(`No handler registered for '${channel}'`));
    return Promise.resolve(handler({ senderFrame: url === null ? null : { url } }, ...args));
  }
}

class FakeIpcRenderer extends EventEmitter {
  invoked: { channel: string; args: unknown[] }[] = [];
  answer: unknown = { ok: true, value: 'answered' };
  invoke(channel: string, ...args: unknown[]): Promise<unknown> {
    this.invoked.push({ channel, args });
    return Promise.resolve(this.answer);
  }
}

class FakeSession {
  permissionRequest: ((wc: unknown, permission: string, callback: (granted: boolean) => void, details: unknown) => void) | null = null;
  permissionCheck: ((wc: unknown, permission: string, origin: string, details: unknown) => boolean) | null = null;
  headersListener: ((details: { responseHeaders?: Record<string, string[]> }, cb: (r: unknown) => void) => void) | null = null;
  readonly webRequest = {
    onHeadersReceived: (listener: (details: { responseHeaders?: Record<string, string[]> }, cb: (r: unknown) => void) => void) => {
      this.headersListener = listener;
    },
  };
  setPermissionRequestHandler(handler: FakeSession['permissionRequest']): void {
    this.permissionRequest = handler;
  }
  setPermissionCheckHandler(handler: FakeSession['permissionCheck']): void {
    this.permissionCheck = handler;
  }
}

export function createElectronStandIn() {
  FakeBrowserWindow.instances = [];
  FakeTray.instances = [];
  FakeNotification.instances = [];
  FakeNotification.supported = true;
  const exposed: Record<string, unknown> = {};
  const opened: string[] = [];
  return {
    app: new FakeApp(),
    BrowserWindow: FakeBrowserWindow,
    Tray: FakeTray,
    Menu: { buildFromTemplate: (template: unknown[]) => ({ template }) },
    nativeImage: { createFromPath: (p: string) => ({ path: p }) },
    Notification: FakeNotification,
    ipcMain: new FakeIpcMain(),
    ipcRenderer: new FakeIpcRenderer(),
    contextBridge: {
      exposeInMainWorld(key: string, api: unknown) {
        exposed[key] = api;
      },
    },
    exposed,
    powerMonitor: new EventEmitter(),
    session: { defaultSession: new FakeSession() },
    shell: {
      openExternal(url: string) {
        opened.push(url);
        return Promise.resolve();
      },
    },
    opened,
    dialog: {
      errors: [] as { title: string; message: string }[],
      showErrorBox(title: string, message: string) {
        this.errors.push({ title, message });
      },
    },
  };
}

export type ElectronStandIn = ReturnType<typeof createElectronStandIn>;
