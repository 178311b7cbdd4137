import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { build, type Metafile } from 'esbuild';

/**
 * `npm run build:main`: bundles the Electron main process and the preload
 * into dist/main/*.cjs.
 * - main.cjs: our TypeScript in one CommonJS file; node_modules stay
 *   `require`s (electron-builder packs the production dependencies, and the
 *   native ones — keytar, better-sqlite3 — cannot be bundled anyway).
 * - preload.cjs: fully self-contained, because a sandboxed preload may only
 *   require 'electron' (and a few Node built-ins).
 * The web bridge is never imported from here, so it cannot end up in the app.
 */
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..');

export interface BundleResult {
  main: Metafile;
  preload: Metafile;
}

export async function bundleMain(outdir = path.join(root, 'dist', 'main')): Promise<BundleResult> {
  const common = {
    absWorkingDir: root,
    bundle: true,
    platform: 'node' as const,
    format: 'cjs' as const,
    // Electron 45 runs Node 22.
    target: 'node22',
    external: ['electron'],
    sourcemap: true,
    metafile: true as const,
    logLevel: 'warning' as const,
  };
  const main = await build({
    ...common,
    entryPoints: { main: 'src-main/electron/main.ts' },
    outdir,
    outExtension: { '.js': '.cjs' },
    packages: 'external',
    // ESM-only import.meta (createRequire in the keychain store, the context's repo root) means this file in CommonJS.
    banner: { js: 'const __rolecallImportMetaUrl = require("node:url").pathToFileURL(__filename).href;' },
    define: { 'import.meta.url': '__rolecallImportMetaUrl', 'import.meta.dirname': '__dirname', 'import.meta.filename': '__filename' },
  });
  const preload = await build({
    ...common,
    entryPoints: { preload: 'src-main/electron/preload.ts' },
    outdir,
    outExtension: { '.js': '.cjs' },
  });
  return { main: main.metafile, preload: preload.metafile };
}

if (process.argv[1] && path.resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  bundleMain().then(
    () => console.log('dist/main: main.cjs, preload.cjs'),
    (e: unknown) => {
      console.error(e instanceof Error ? e.message : e);
      process.exitCode = 1;
    },
  );
}
