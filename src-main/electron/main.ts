import { app, dialog } from 'electron';
import { startDesktopApp } from './desktop-app.js';
import { createEngine } from './engine.js';

// Entry of the Electron main process (bundled to dist/main/main.cjs, package.json "main").
startDesktopApp({ createEngine: (paths) => createEngine(paths, app.getVersion()) }).catch((e: unknown) => {
  // Without a window yet, a dialog is the only place the user would see why.
  dialog.showErrorBox('Rolecall could not start', e instanceof Error ? e.message : String(e));
  app.exit(1);
});
