import { existsSync, readdirSync, statSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

const ROOT = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');
export const RENDERER_DIST = path.join(ROOT, 'dist', 'renderer');

/** What the renderer build is made from: its sources, the vite config and the CSP it bakes in. */
function newestSource(): number {
  let newest = 0;
  const visit = (p: string) => {
    const s = statSync(p);
    if (s.isDirectory()) for (const name of readdirSync(p)) visit(path.join(p, name));
    else newest = Math.max(newest, s.mtimeMs);
  };
  for (const p of [path.join(ROOT, 'src-renderer'), path.join(ROOT, 'vite.config.ts'), path.join(ROOT, 'src-main', 'ipc', 'renderer-csp.ts')]) {
    if (existsSync(p)) visit(p);
  }
  return newest;
}

/**
 * DEMO: the app's pages, built (vite, a dev dependency like the demo's
 * database) when dist/renderer is missing or older than its sources.
 * Answers the folder to serve.
 */
export async function ensureRendererBuilt(say: (m: string) => void): Promise<string> {
  const index = path.join(RENDERER_DIST, 'index.html');
  if (existsSync(index) && statSync(index).mtimeMs >= newestSource()) return RENDERER_DIST;
  say('building the app\'s pages (vite)…');
  const { build } = await import('vite');
  await build({ configFile: path.join(ROOT, 'vite.config.ts'), logLevel: 'warn' });
  return RENDERER_DIST;
}
