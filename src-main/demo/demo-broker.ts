import { randomBytes } from 'node:crypto';
import path from 'node:path';
import { startBroker, type RunningBroker } from '../broker/broker.js';
import { brokerConfigSchema, readBrokerFiles } from '../broker/config.js';
import type { Logger } from '../core/log.js';
import type { BrokerProfileInput } from '../core/profiles/schema.js';
import type { DemoDatabase } from './demo-database.js';
import { DEMO_BASE_DN, DEMO_SERVICE_DN } from './demo-directory.js';
import { makeDemoTls } from './demo-tls.js';

/** The demo's directory settings, the same for the broker (team shape) and the laptop profile (direct shape). */
export function demoDirectorySettings(url: string) {
  return {
    kind: 'openldap' as const,
    url,
    bindDn: DEMO_SERVICE_DN,
    baseDn: DEMO_BASE_DN,
    userBaseDn: `ou=people,${DEMO_BASE_DN}`,
    groupBaseDn: `ou=groups,${DEMO_BASE_DN}`,
    groupStrategy: 'member-nested' as const,
    groupPrefix: 'heimdall-',
  };
}

export interface DemoBroker {
  broker: RunningBroker;
  /** The laptop's broker profile for the demo database: no secret in it. */
  profile: BrokerProfileInput;
}

/**
 * DEMO, team shape: the broker on 127.0.0.1 with a generated certificate,
 * holding the directory's service password, rolecall_broker's password and a
 * fresh credential key (all in this process's memory only), serving the demo
 * database as "hr"; and the laptop's broker profile that signs in through it.
 */
export async function startDemoBroker(
  dir: string,
  directory: { url: string; servicePassword: string },
  database: DemoDatabase,
  listenPort: number,
  logger: Logger,
): Promise<DemoBroker> {
  const tls = await makeDemoTls(path.join(dir, 'broker-tls'));
  const config = brokerConfigSchema.parse({
    version: 1,
    listen: { host: '127.0.0.1', port: 0, tls: { certFile: tls.certFile, keyFile: tls.keyFile } },
    directory: demoDirectorySettings(directory.url),
    databases: [
      {
        id: 'hr',
        name: 'Rolecall demo (HR database)',
        host: database.host,
        port: database.port,
        database: database.database,
        sslmode: 'verify-full',
        caFile: database.caFile,
        sessionDefaults: {},
        suggestedLocalPort: Math.max(listenPort, 1024),
      },
    ],
    // A typo holds the login a few seconds only, so trying the demo's users in any order works.
    throttle: { holdSeconds: 3 },
    sweep: { intervalSeconds: 60 },
  });
  const files = await readBrokerFiles(config);
  if (!files.ok) throw new Error(`the demo broker's files: ${files.errors.map((e) => `${e.path}: ${e.message}`).join('; ')}`);
  const broker = await startBroker(
    config,
    files.files,
    { bindPassword: directory.servicePassword, syncPasswords: new Map([['hr', database.syncPassword]]), credentialKey: randomBytes(32) },
    { logger, replica: 'demo' },
  );
  const profile: BrokerProfileInput = {
    mode: 'broker',
    id: 'demo',
    name: 'Rolecall demo (HR database, team broker)',
    broker: { urls: [broker.url], caFile: tls.certFile, database: 'hr' },
    database: { host: database.host, port: database.port, database: database.database, sslmode: 'verify-full', caFile: database.caFile },
    listen: { host: '127.0.0.1', port: listenPort },
    revalidate: { intervalSeconds: 60 },
  };
  return { broker, profile };
}
