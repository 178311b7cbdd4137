import { execFile } from 'node:child_process';
import { builtinModules } from 'node:module';
import { readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import vm from 'node:vm';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { bundleMain, type BundleResult } from '../../src-main/electron/bundle-main.js';
import { channelNames } from '../../src-main/ipc/channel-names.js';
import { channels } from '../../src-main/ipc/contract.js';
import { tempDir } from '../harness/ports.js';
import { repoRoot } from './electron-stand-in.js';

// `npm run build:main` (esbuild) into a temp folder: what the packaged app
// would run. The Electron binary cannot run here, so the preload bundle is
// executed in a vm context with a stand-in `require('electron')`.

const out = tempDir('main-bundle');
let result: BundleResult;
beforeAll(async () => {
  result = await bundleMain(out);
}, 60_000);
afterAll(() => rmSync(out, { recursive: true, force: true }));

const externals = (meta: BundleResult['main']) =>
  [...new Set(Object.values(meta.outputs).flatMap((o) => o.imports.filter((i) => i.external).map((i) => i.path)))].sort();

describe('main-process bundle', () => {
  it('writes dist/main/main.cjs and preload.cjs', () => {
    expect(readFileSync(path.join(out, 'main.cjs'), 'utf8')).toContain('startDesktopApp');
    expect(readFileSync(path.join(out, 'preload.cjs'), 'utf8')).toContain('exposeInMainWorld');
  });

  it('does not contain the web bridge (no bridge module, no HTTP server)', () => {
    const inputs = Object.keys(result.main.inputs);
    expect(inputs.some((f) => f.startsWith('src-main/electron/'))).toBe(true);
    expect(inputs.filter((f) => /bridge/i.test(f) && !f.endsWith('ipc-main-adapter.ts'))).toEqual([]);
    // node:https is the team broker's client (core/broker-client); an HTTP server would need node:http.
    expect(externals(result.main).filter((m) => /^(node:)?http$/.test(m))).toEqual([]);
  });

  it('requires only Node built-ins, electron and production dependencies (what electron-builder packs)', () => {
    const pkg = JSON.parse(readFileSync(path.join(repoRoot, 'package.json'), 'utf8')) as { dependencies: Record<string, string> };
    const allowed = (m: string) => {
      if (m === 'electron' || m.startsWith('node:') || builtinModules.includes(m)) return true;
      const name = m.startsWith('@') ? m.split('/').slice(0, 2).join('/') : m.split('/')[0]!;
      return name in pkg.dependencies;
    };
    expect(externals(result.main).filter((m) => !allowed(m))).toEqual([]);
  });

  it('gives the sandboxed preload nothing to require but electron', () => {
    expect(externals(result.preload)).toEqual(['electron']);
  });

  it('lists the same channels in the preload as the contract', () => {
    expect([...channelNames].sort()).toEqual([...channels].sort());
  });

  it('runs the built preload and exposes window.rolecall with invoke and on', async () => {
    const exposed: Record<string, { invoke: (c: string, r: unknown) => Promise<unknown>; on: unknown }> = {};
    const invoked: string[] = [];
    const electron = {
      contextBridge: { exposeInMainWorld: (k: string, v: never) => (exposed[k] = v) },
      ipcRenderer: {
        invoke: (channel: string) => {
          invoked.push(channel);
          return Promise.resolve({ ok: true, value: null });
        },
        on: () => undefined,
        removeListener: () => undefined,
      },
    };
    const sandboxRequire = (m: string) => {
      if (m === 'electron') return electron;
      throw new Error(`a sandboxed preload cannot require "${m}"`);
    };
    const module = { exports: {} };
    vm.runInNewContext(readFileSync(path.join(out, 'preload.cjs'), 'utf8'), { require: sandboxRequire, module, exports: module.exports, Promise, Error });
    expect(Object.keys(exposed)).toEqual(['rolecall']);
    expect(Object.keys(exposed.rolecall!).sort()).toEqual(['invoke', 'on']);
    await exposed.rolecall!.invoke('proxies.status', {});
    expect(invoked).toEqual(['rolecall:invoke:proxies.status']);
    await expect(exposed.rolecall!.invoke('nope', {})).rejects.toThrow(/unknown Rolecall channel/);
  });

  it('starts the real engine from main.cjs under Node with a stand-in electron, serves IPC, and quits cleanly', async () => {
    const home = tempDir('main-bundle-home');
    try {
      writeFileSync(path.join(out, 'stand-in-electron.cjs'), STAND_IN);
      const lines = await new Promise<Record<string, unknown>[]>((resolve, reject) => {
        execFile(
          process.execPath,
          ['-r', path.join(out, 'stand-in-electron.cjs'), path.join(out, 'main.cjs')],
          {
            // The bundle lives in a temp folder: let it find the repo's node_modules as the packaged app finds its own.
            env: { PATH: process.env.PATH, HOME: home, ROLECALL_CONFIG: path.join(home, 'cfg', 'config.json'), NODE_PATH: path.join(repoRoot, 'node_modules'), APP_PATH: repoRoot },
            timeout: 30_000,
          },
          (error, stdout, stderr) => {
            if (error) reject(new Error(`${error.message}\n${stderr}`));
            else resolve(stdout.trim().split('\n').filter((l) => l.startsWith('{')).map((l) => JSON.parse(l) as Record<string, unknown>));
          },
        );
      });
      const byEvent = (name: string) => lines.filter((l) => l.event === name);
      expect(byEvent('error')).toEqual([]);
      expect(byEvent('window')[0]).toMatchObject({ webPreferences: { contextIsolation: true, sandbox: true, nodeIntegration: false } });
      expect(byEvent('handlers')[0]).toEqual({ event: 'handlers', count: channels.length });
      expect(byEvent('app.info')[0]).toMatchObject({
        result: { ok: true, value: { version: '9.9.9', configPath: path.join(home, 'cfg', 'config.json'), keychain: { backend: expect.any(String) } } },
      });
      expect(lines.at(-1)).toEqual({ event: 'quit' });
    } finally {
      rmSync(home, { recursive: true, force: true });
    }
  }, 40_000);
});

/** A CommonJS stand-in for `electron`, preloaded with `node -r`: logs what main.cjs asks for as JSON lines. */
const STAND_IN = String.raw`
const Module = require('node:module');
const { EventEmitter } = require('node:events');
const log = (o) => process.stdout.write(JSON.stringify(o) + '\n');
const handlers = new Map();
const app = Object.assign(new EventEmitter(), {
  requestSingleInstanceLock: () => true,
  whenReady: () => Promise.resolve(),
  getAppPath: () => process.env.APP_PATH,
  isPackaged: false,
  getVersion: () => '9.9.9',
  getLoginItemSettings: () => ({ openAtLogin: false }),
  setLoginItemSettings() {},
  quit() {
    const ev = { prevented: false, preventDefault() { this.prevented = true; } };
    app.emit('before-quit', ev);
    if (!ev.prevented) { log({ event: 'quit' }); process.exit(0); }
  },
  exit(code) { log({ event: 'exit', code }); process.exit(code); },
});
class BrowserWindow extends EventEmitter {
  constructor(options) {
    super();
    this.webContents = Object.assign(new EventEmitter(), { setWindowOpenHandler() {}, send() {}, isDestroyed: () => false });
    log({ event: 'window', webPreferences: options.webPreferences });
  }
  loadFile() { return Promise.resolve(); }
  show() {} focus() {} hide() {} restore() {}
  isMinimized() { return false; }
  isDestroyed() { return false; }
}
class Tray extends EventEmitter { setImage() {} setToolTip() {} setContextMenu() {} destroy() {} }
const electron = {
  app, BrowserWindow, Tray,
  ipcMain: { handle: (c, f) => handlers.set(c, f), removeHandler: (c) => handlers.delete(c) },
  Menu: { buildFromTemplate: (t) => t },
  nativeImage: { createFromPath: (p) => p },
  Notification: class { static isSupported() { return false; } },
  powerMonitor: new EventEmitter(),
  session: { defaultSession: { setPermissionRequestHandler() {}, setPermissionCheckHandler() {}, webRequest: { onHeadersReceived() {} } } },
  shell: { openExternal() {} },
  dialog: { showErrorBox: (title, message) => log({ event: 'error', title, message }) },
};
const load = Module._load;
Module._load = function (request, ...rest) { return request === 'electron' ? electron : load.call(this, request, ...rest); };
const page = require('node:url').pathToFileURL(require('node:path').join(process.env.APP_PATH, 'dist', 'renderer', 'index.html')).href;
const timer = setInterval(async () => {
  if (handlers.size === 0 || app.listenerCount('before-quit') === 0) return;
  clearInterval(timer);
  log({ event: 'handlers', count: handlers.size });
  const result = await handlers.get('rolecall:invoke:app.info')({ senderFrame: { url: page } }, {});
  log({ event: 'app.info', result });
  app.quit();
}, 20);
`;
