import path from 'node:path';
import { pathToFileURL } from 'node:url';

/** Where the app's files are, in development (`electron .`) and packaged (app.asar + resources/). */
export interface AppPaths {
  indexHtml: string;
  preload: string;
  trayIcons: string;
  /** sql/postgres: install.sql and friends, shipped as an extra resource outside the asar. */
  sqlDir: string;
}

export function appPaths(appPath: string, resourcesPath: string, packaged: boolean): AppPaths {
  return {
    indexHtml: path.join(appPath, 'dist', 'renderer', 'index.html'),
    preload: path.join(appPath, 'dist', 'main', 'preload.cjs'),
    trayIcons: path.join(appPath, 'build', 'tray'),
    sqlDir: packaged ? path.join(resourcesPath, 'sql', 'postgres') : path.join(appPath, 'sql', 'postgres'),
  };
}

/** True only for the app's own index.html (any hash): IPC from any other page is refused. */
export function isAppPage(url: string, indexHtml: string): boolean {
  try {
    const u = new URL(url);
    u.hash = '';
    return u.href === pathToFileURL(indexHtml).href;
  } catch {
    return false;
  }
}
