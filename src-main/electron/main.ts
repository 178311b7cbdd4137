import path from 'node:path';
import { app, dialog } from 'electron';
import { startDesktopApp } from './desktop-app.js';
import { createEngine } from './engine.js';

// Entry of the Electron main process (bundled to dist/main/main.cjs, package.json "main").
// `npm start -- --demo` runs the app on the demo's servers, started from this checkout's CLI.
const demo = { cli: path.join(app.getAppPath(), 'bin', 'rolecall.mjs'), packaged: app.isPackaged };
startDesktopApp({ createEngine: (paths) => createEngine(paths, app.getVersion(), process.argv, demo) }).catch((e: unknown) => {
  // Without a window yet, a dialog is the only place the user would see why.
  dialog.showErrorBox('Rolecall could not start', e instanceof Error ? e.message : String(e));
  app.exit(1);
});
