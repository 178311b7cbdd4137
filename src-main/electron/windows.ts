import { BrowserWindow, shell, type BrowserWindowConstructorOptions, type WebContents } from 'electron';

/** Pages the main process opens (hash routes of the renderer). */
export type WindowPage = 'status' | 'history' | 'new-profile';

const routes: Record<WindowPage, string> = { status: '/status', history: '/history', 'new-profile': '/profiles/new' };

export interface WindowPaths {
  /** dist/renderer/index.html */
  indexHtml: string;
  /** dist/main/preload.cjs */
  preload: string;
}

/** Everything the renderer may do is in the preload's contract; nothing else is switched on. */
export function secureWindowOptions(paths: WindowPaths): BrowserWindowConstructorOptions {
  return {
    width: 1100,
    height: 760,
    minWidth: 720,
    minHeight: 480,
    title: 'Rolecall',
    show: false,
    webPreferences: {
      preload: paths.preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      spellcheck: false,
    },
  };
}

/** The page never leaves index.html, opens no window and embeds no webview; https links go to the user's browser. */
export function lockDownContents(contents: WebContents): void {
  contents.on('will-navigate', (event) => event.preventDefault());
  contents.on('will-redirect', (event) => event.preventDefault());
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    if (isHttpsUrl(url)) void shell.openExternal(url);
    return { action: 'deny' };
  });
}

function isHttpsUrl(url: string): boolean {
  try {
    return new URL(url).protocol === 'https:';
  } catch {
    return false;
  }
}

/**
 * The one app window: created on demand, hidden (not destroyed) when closed
 * so the app lives on in the tray, destroyed only when the app quits.
 */
export class MainWindow {
  private window: BrowserWindow | null = null;
  private quitting = false;

  constructor(private readonly paths: WindowPaths) {}

  /** Shows the window; with a page, also goes there (without one, an open window keeps what the user was doing). */
  show(page?: WindowPage): void {
    const existing = this.window;
    const win = existing ?? this.create();
    // On an open window this is a same-document navigation (only the hash changes): the renderer keeps its state.
    if (!existing || page) void win.loadFile(this.paths.indexHtml, { hash: routes[page ?? 'status'] });
    if (!existing) return; // a new window shows itself when its first paint is ready
    if (win.isMinimized()) win.restore();
    win.show();
    win.focus();
  }

  /** Lets the next close really close (Quit from the tray or the app menu). */
  allowClose(): void {
    this.quitting = true;
  }

  webContents(): WebContents | null {
    return this.window && !this.window.isDestroyed() ? this.window.webContents : null;
  }

  private create(): BrowserWindow {
    const win = new BrowserWindow(secureWindowOptions(this.paths));
    lockDownContents(win.webContents);
    win.on('close', (event) => {
      if (this.quitting) return;
      event.preventDefault();
      win.hide();
    });
    win.on('closed', () => {
      this.window = null;
    });
    win.once('ready-to-show', () => {
      win.show();
      win.focus();
    });
    this.window = win;
    return win;
  }
}
