import path from 'node:path';
import { defineConfig, type Plugin } from 'vite';
import { svelte } from '@sveltejs/vite-plugin-svelte';
import { RENDERER_CSP } from './src-main/ipc/renderer-csp.js';

/** index.html gets the window's CSP as a meta tag (file:// has no headers), from its one definition. */
function cspMeta(): Plugin {
  return {
    name: 'rolecall-csp-meta',
    transformIndexHtml: () => [
      { tag: 'meta', attrs: { 'http-equiv': 'Content-Security-Policy', content: RENDERER_CSP }, injectTo: 'head-prepend' },
    ],
  };
}

// The renderer is loaded from disk by Electron (file://) and over HTTP by the
// web bridge in tests, so every URL in the build is relative. The window's CSP
// allows no inline script or style: keep everything in external files.
export default defineConfig({
  root: path.resolve(import.meta.dirname, 'src-renderer'),
  base: './',
  plugins: [svelte(), cspMeta()],
  build: {
    outDir: path.resolve(import.meta.dirname, 'dist/renderer'),
    emptyOutDir: true,
    target: 'es2022',
    // No data: URLs and no inline preload helper: both would need CSP exceptions.
    assetsInlineLimit: 0,
    modulePreload: { polyfill: false },
    cssCodeSplit: false,
  },
});
