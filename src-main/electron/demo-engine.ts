import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { MemorySecretStore } from '../core/secrets/memory-store.js';
import { createAppContext } from '../ipc/app-context.js';
import { createHandlers } from '../ipc/handlers/index.js';
import type { Engine } from './desktop-app.js';
import type { AppPaths } from './paths.js';

export interface DemoEngineOptions {
  /** bin/rolecall.mjs of this checkout: the demo's servers run from source. */
  cli: string;
  /** The packaged app ships no CLI and no demo servers. */
  packaged?: boolean;
  /** What runs the CLI: Electron's own binary as Node (the default), or node in tests. */
  execPath?: string;
  /** The demo proxy's local port (default 5050, as `npm run demo`). */
  port?: number;
}

const READY_TIMEOUT_MS = 180_000;

/**
 * `npm start -- --demo`: the desktop app on the demo, in the team shape. The
 * demo's servers (directory, PostgreSQL, the broker with every secret) run in
 * a process of their own, `rolecall demo --for-desktop FILE`, as a team's
 * broker runs elsewhere; this app is the laptop: it reads the broker profile
 * from FILE and runs the proxy itself, holding no secret. Quitting the app
 * stops the demo's servers and removes what they created.
 */
export async function createDemoEngine(paths: AppPaths, version: string, options: DemoEngineOptions): Promise<Engine> {
  if (options.packaged) throw new Error('The demo runs from a source checkout: `npm start -- --demo` (or `npm run demo` for the browser).');
  const dir = mkdtempSync(path.join(tmpdir(), 'rolecall-desktop-demo-'));
  const configFile = path.join(dir, 'config.json');
  const child = spawn(options.execPath ?? process.execPath, [options.cli, 'demo', '--json', '--port', String(options.port ?? 5050), '--for-desktop', configFile], {
    env: { ...process.env, ELECTRON_RUN_AS_NODE: '1' },
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  try {
    await ready(child);
    const ctx = await createAppContext({
      configPath: configFile,
      historyPath: path.join(dir, 'history.sqlite3'),
      tlsDir: path.join(dir, 'tls'),
      secrets: new MemorySecretStore(),
      sqlDir: paths.sqlDir,
      version,
      env: { ...process.env, PGSERVICEFILE: path.join(dir, 'pg_service.conf') },
    });
    const loaded = await ctx.store.load();
    if (loaded.ok) for (const p of loaded.config.profiles) await ctx.service.start(p);
    return {
      handlers: createHandlers(ctx),
      service: ctx.service,
      async close() {
        await ctx.close();
        await stopDemo(child, exited);
        rmSync(dir, { recursive: true, force: true });
      },
    };
  } catch (e) {
    await stopDemo(child, exited);
    rmSync(dir, { recursive: true, force: true });
    throw e;
  }
}

/** Resolves at the demo's ready line; rejects, with what it said, when it exits or takes too long. */
function ready(child: ChildProcess): Promise<void> {
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr = (stderr + d.toString()).slice(-4000)));
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`the demo's servers were not ready within ${READY_TIMEOUT_MS / 1000} s: ${stderr}`)), READY_TIMEOUT_MS);
    child.once('exit', (code) => {
      clearTimeout(timer);
      reject(new Error(`the demo's servers exited (${code}) before they were ready: ${stderr.trim() || 'no output'}`));
    });
    createInterface({ input: child.stdout! }).on('line', (line) => {
      if (!line.includes('"event":"ready"')) return;
      clearTimeout(timer);
      resolve();
    });
  });
}

async function stopDemo(child: ChildProcess, exited: Promise<void>): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return;
  child.kill('SIGINT');
  const timer = setTimeout(() => child.kill('SIGKILL'), 20_000);
  await exited;
  clearTimeout(timer);
}
