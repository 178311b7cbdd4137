import { mkdirSync, rmSync } from 'node:fs';
import path from 'node:path';
import pg from 'pg';
import { buildScramVerifier } from '../src-main/core/sync/scram-verifier.js';
import type { BrokerConfigInput } from '../src-main/broker/config.js';
import type { SignInResponse } from '../src-main/core/broker-api/schema.js';
import { brokerEnv, newCredentialKey, startBrokerProcess } from '../test/harness/broker.js';
import type { PgServer } from '../test/harness/postgres.js';
import { tempDir } from '../test/harness/ports.js';
import type { SlapdServer } from '../test/harness/slapd.js';
import { makeTestPki, type TestPki } from '../test/harness/tls.js';
import { median, percentile, round } from './stats.js';

export interface BrokerLogin {
  samples: number;
  /** The broker's HTTPS sign-in alone (new TLS connection, directory bind + groups + sync), ms. */
  signInP50Ms: number;
  signInP95Ms: number;
  /** Sign-in plus the first server login with the password it returned: what a cold team-mode login costs. */
  coldP50Ms: number;
  coldP95Ms: number;
}

/** broker.json for the bench: one database ("app") on the bench's PostgreSQL, slapd, no sweep, no rate limit in the way. */
export function benchBrokerConfig(pgServer: PgServer, ldap: SlapdServer, pki: TestPki, serverTls: boolean, listen: Partial<BrokerConfigInput['listen']> = {}): BrokerConfigInput {
  return {
    version: 1,
    listen: { host: '127.0.0.1', port: 0, tls: { certFile: pki.certFile, keyFile: pki.keyFile }, ...listen },
    directory: { kind: 'openldap', url: ldap.url, bindDn: ldap.serviceDn, baseDn: ldap.baseDn, groupStrategy: 'member-nested', groupPrefix: 'heimdall-', timeoutMs: 5000 },
    databases: [
      {
        id: 'app',
        name: 'App',
        host: '127.0.0.1',
        port: pgServer.port,
        database: 'app',
        sslmode: serverTls ? 'verify-full' : 'disable',
        ...(serverTls ? { caFile: pgServer.pki.caFile } : {}),
        suggestedLocalPort: 6432,
      },
    ],
    rateLimit: { perAddressPerMinute: 100_000 },
    sweep: { intervalSeconds: 0 },
  };
}

/** The broker's secrets for the bench, quiet logs (one line per sign-in would be the bench's bottleneck). */
export function benchBrokerEnv(ldap: SlapdServer, brokerPassword: string, credentialKey: string): NodeJS.ProcessEnv {
  return { ...brokerEnv({ bindPassword: ldap.servicePassword, syncPassword: brokerPassword, credentialKey }), ROLECALL_LOG_LEVEL: 'warn' };
}

/** BENCH_BROKER_NODE_OPTIONS: Node flags for the broker processes only (e.g. --cpu-prof --cpu-prof-dir=/tmp/prof). */
export function benchBrokerNodeArgs(): string[] {
  return (process.env.BENCH_BROKER_NODE_OPTIONS ?? '').split(' ').filter(Boolean);
}

/**
 * (f) cold sign-in through the team broker (its own process, the real CLI)
 * for `users` new directory users, on the bench's PostgreSQL and slapd:
 * the HTTPS sign-in, then a node-postgres login with the derived password.
 */
export async function measureBrokerLogins(pgServer: PgServer, ldap: SlapdServer, group: string, users: number, password: string, serverTls: boolean): Promise<BrokerLogin> {
  const dir = tempDir('bench-broker');
  mkdirSync(path.join(dir, 'pki'));
  const pki = makeTestPki(path.join(dir, 'pki'));
  const brokerPassword = `broker-${Math.random().toString(36).slice(2)}`;
  await pgServer.query(`ALTER ROLE rolecall_broker LOGIN PASSWORD '${buildScramVerifier(brokerPassword)}'`);
  const dns: string[] = [];
  for (let i = 0; i < users; i++) dns.push(await ldap.addUser(`bcold${String(i).padStart(3, '0')}`, password));
  await ldap.addMembers(group, dns);
  const broker = await startBrokerProcess(path.join(dir, 'broker.json'), benchBrokerConfig(pgServer, ldap, pki, serverTls), benchBrokerEnv(ldap, brokerPassword, newCredentialKey()), pki.caFile, benchBrokerNodeArgs());
  const signIns: number[] = [];
  const colds: number[] = [];
  try {
    for (let i = 0; i < users; i++) {
      const login = `bcold${String(i).padStart(3, '0')}`;
      const t0 = performance.now();
      const r = await broker.post<SignInResponse>('/v1/sign-in', { login, password, database: 'app' });
      const t1 = performance.now();
      if (r.status !== 200) throw new Error(`broker sign-in of ${login} failed: ${r.text}`);
      const c = new pg.Client({ host: '127.0.0.1', port: pgServer.port, user: login, password: r.body.password, database: 'app', ...(serverTls ? { ssl: { rejectUnauthorized: false } } : {}) });
      c.on('error', () => undefined);
      await c.connect();
      const t2 = performance.now();
      await c.end();
      signIns.push(t1 - t0);
      colds.push(t2 - t0);
    }
  } finally {
    await broker.stop();
    rmSync(dir, { recursive: true, force: true });
  }
  return {
    samples: users,
    signInP50Ms: round(median(signIns), 1),
    signInP95Ms: round(percentile(signIns, 95), 1),
    coldP50Ms: round(median(colds), 1),
    coldP95Ms: round(percentile(colds, 95), 1),
  };
}
