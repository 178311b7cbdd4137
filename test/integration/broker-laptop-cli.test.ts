import { spawn, type ChildProcessWithoutNullStreams } from 'node:child_process';
import { existsSync, mkdirSync, readdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { createInterface } from 'node:readline';
import { createRequire } from 'node:module';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { SignInResponse } from '../../src-main/core/broker-api/schema.js';
import { isBrokerProfile, type BrokerProfile, type Profile } from '../../src-main/core/profiles/schema.js';
import { ProfileStore } from '../../src-main/core/profiles/store.js';
import type { BrokerProcess } from '../harness/broker.js';
import { freePort, waitFor } from '../harness/ports.js';
import { run, type RunResult } from '../harness/run.js';
import { startTcpRelay, type TcpRelay } from '../harness/tcp-relay.js';
import { startTeamEnv, USERS, type TeamEnv } from '../harness/team-env.js';

/*
 * The laptop's command line in team mode, as a user runs it (bin/rolecall.mjs
 * in child processes) against the real broker: profiles import --broker,
 * doctor, start (two laptops at once, across a password window), status,
 * history; then every place the laptop side writes is scanned for the team's
 * secrets, the users' passwords and the database passwords.
 */

let env: TeamEnv;
let short: BrokerProcess;
let laptopA: string;
const children = new Set<ChildProcessWithoutNullStreams>();
/** Everything the laptop-side processes wrote, for the secrets scan. */
const output: string[] = [];
/** Database passwords handed out during the test (learned from the broker directly, to look for them). */
const databasePasswords: string[] = [];

function cli(args: string[], extraEnv: Record<string, string> = {}): Promise<RunResult> {
  return run(process.execPath, ['bin/rolecall.mjs', ...args], { env: { ...process.env, ROLECALL_LOG_LEVEL: 'debug', ...extraEnv } }).then((r) => {
    output.push(r.stdout, r.stderr);
    return r;
  });
}

interface Laptop {
  child: ChildProcessWithoutNullStreams;
  ports: Record<string, number>;
  stop(): Promise<number | null>;
}

/** `rolecall start --config FILE --json` until every profile listens. */
async function startLaptop(configFile: string, profiles: number): Promise<Laptop> {
  const child = spawn(process.execPath, ['bin/rolecall.mjs', 'start', '--config', configFile, '--json'], { env: { ...process.env, ROLECALL_LOG_LEVEL: 'debug' } });
  children.add(child);
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  child.once('exit', () => output.push(stderr));
  const ports: Record<string, number> = {};
  await new Promise<void>((resolve, reject) => {
    child.once('exit', (code) => reject(new Error(`rolecall start exited ${code}: ${stderr}`)));
    createInterface({ input: child.stdout }).on('line', (l) => {
      output.push(l);
      const e = JSON.parse(l) as { event: string; profile: string; port: number };
      if (e.event === 'listening') ports[e.profile] = e.port;
      if (Object.keys(ports).length === profiles) resolve();
    });
  });
  return {
    child,
    ports,
    stop() {
      const exited = new Promise<number | null>((r) => (child.exitCode === null ? child.once('exit', (code) => r(code)) : r(child.exitCode)));
      child.kill('SIGTERM');
      return exited;
    },
  };
}

async function connect(port: number, user: string, password: string): Promise<pg.Client> {
  const c = new pg.Client({ host: '127.0.0.1', port, user, password, database: 'app' });
  c.on('error', () => undefined);
  await c.connect();
  return c;
}

async function verifier(login: string): Promise<string> {
  const { rows } = await env.pg18.query<{ rolpassword: string }>(`SELECT rolpassword FROM pg_authid WHERE rolname = $1`, [login]);
  return rows[0]?.rolpassword ?? '';
}

async function loadBrokerProfiles(file: string): Promise<BrokerProfile[]> {
  const r = await new ProfileStore(file).load();
  if (!r.ok) throw new Error(JSON.stringify(r.errors));
  return r.config.profiles.filter((p: Profile): p is BrokerProfile => isBrokerProfile(p));
}

beforeAll(async () => {
  env = await startTeamEnv({ pgSettings: { log_statement: 'all', log_connections: 'on' } });
  // Another broker with a 6-second password window, for the rotation test (erin only: windows differ, so passwords do).
  short = await env.startBroker('short', (c) => ({ ...c, credentials: { windowSeconds: 6, graceSeconds: 60 } }));
  laptopA = path.join(env.dir, 'laptop-a', 'config.json');
}, 240_000);

afterAll(async () => {
  for (const c of children) if (c.exitCode === null) c.kill('SIGKILL');
  await env?.stop();
});

describe('rolecall profiles import --broker', () => {
  it('writes one broker profile per catalog database, with the catalog\'s CA beside the config and a free port', async () => {
    // The catalog suggests 16432 for app18: someone holds it, so the next free port is taken.
    const holder = net.createServer().listen(16432, '127.0.0.1');
    await new Promise((r) => holder.once('listening', r));
    try {
      const r = await cli(['profiles', 'import', '--broker', env.broker.url, '--ca', env.pki.caFile, '--login', 'alice', '--database', 'app18', '--database', 'app15', '--config', laptopA], {
        ROLECALL_PASSWORD: USERS.alice,
      });
      expect(r, r.stderr).toMatchObject({ code: 0 });
      expect(r.stdout).toMatch(/app18 \(new\): 127\.0\.0\.1:\d+ → 127\.0\.0\.1:\d+\/app/);
    } finally {
      holder.close();
    }
    const profiles = await loadBrokerProfiles(laptopA);
    expect(profiles.map((p) => p.id)).toEqual(['app18', 'app15']);
    const [p18, p15] = profiles as [BrokerProfile, BrokerProfile];
    expect(p18.listen.port).not.toBe(16432);
    expect(p18.listen.port).toBeGreaterThan(16432);
    expect(p15.listen.port).not.toBe(p18.listen.port);
    expect(p18.broker).toMatchObject({ urls: [env.broker.url], database: 'app18', caFile: path.join(path.dirname(laptopA), 'ca', 'broker-127.0.0.1.pem') });
    expect(p18.database).toMatchObject({ host: '127.0.0.1', port: env.pg18.port, database: 'app', sslmode: 'verify-full', caFile: path.join(path.dirname(laptopA), 'ca', 'app18.pem') });
    for (const [file, source] of [[p18.database.caFile!, env.pg18.pki.caFile], [p15.database.caFile!, env.pg15.pki.caFile], [p18.broker.caFile!, env.pki.caFile]] as const) {
      expect(readFileSync(file, 'utf8')).toBe(readFileSync(source, 'utf8'));
      expect(statSync(file).mode & 0o777).toBe(0o644);
    }
  });

  it('says what went wrong: a wrong password, a database the broker does not serve, a direct profile in the way', async () => {
    const other = path.join(env.dir, 'import-errors', 'config.json');
    const wrong = await cli(['profiles', 'import', '--broker', env.broker.url, '--ca', env.pki.caFile, '--login', 'alice', '--config', other], { ROLECALL_PASSWORD: 'not-it' });
    expect(wrong.code).toBe(1);
    expect(wrong.stderr).toMatch(/password authentication failed for user "alice" \(28P01\)/);
    const unknown = await cli(['profiles', 'import', '--broker', env.broker.url, '--ca', env.pki.caFile, '--login', 'erin', '--database', 'nope', '--config', other], { ROLECALL_PASSWORD: USERS.erin });
    expect(unknown.code).toBe(2);
    expect(unknown.stderr).toMatch(/the broker serves no database "nope" \(it serves: app18, app15, late\)/);
    const http = await cli(['profiles', 'import', '--broker', `http://127.0.0.1:${env.broker.port}`, '--config', other], { ROLECALL_PASSWORD: USERS.erin });
    expect(http.code).toBe(2);
    expect(http.stderr).toMatch(/must be an https:\/\/ URL/);
    mkdirSync(path.dirname(other), { recursive: true });
    const directProfile = { id: 'app18', name: 'Direct', directory: { url: env.ldap.url, bindDn: env.ldap.serviceDn, baseDn: env.ldap.baseDn }, database: { host: '127.0.0.1', database: 'app' }, listen: { port: 16999 } };
    writeFileSync(other, JSON.stringify({ version: 1, profiles: [directProfile] }));
    const inTheWay = await cli(['profiles', 'import', '--broker', env.broker.url, '--ca', env.pki.caFile, '--login', 'erin', '--database', 'app18', '--config', other], { ROLECALL_PASSWORD: USERS.erin });
    expect(inTheWay.code).toBe(2);
    expect(inTheWay.stderr).toMatch(/"app18" already exists as direct profile: pass --replace/);
    // Migration: the direct profile becomes a broker profile on the same port, so clients keep their connection strings.
    const replaced = await cli(['profiles', 'import', '--broker', env.broker.url, '--ca', env.pki.caFile, '--login', 'erin', '--database', 'app18', '--replace', '--config', other], { ROLECALL_PASSWORD: USERS.erin });
    expect(replaced, replaced.stderr).toMatchObject({ code: 0, stdout: expect.stringContaining('app18 (replaced): 127.0.0.1:16999') });
    const [p] = await loadBrokerProfiles(other);
    expect(p).toMatchObject({ id: 'app18', mode: 'broker', listen: { port: 16999 } });
  });
});

describe('rolecall doctor for broker profiles', () => {
  // The broker is ready only when every database it serves answers: "late" gets its relay for these checks.
  let relay: TcpRelay;
  beforeAll(async () => {
    relay = await startTcpRelay(env.pg18.port, env.latePort);
  });
  afterAll(() => relay.close());

  it('checks each broker URL (connect, TLS, readiness) and with --login signs in and logs in to the database', async () => {
    const r = await cli(['doctor', '--config', laptopA, '--profile', 'app18', '--login', 'alice'], { ROLECALL_PASSWORD: USERS.alice });
    expect(r.code, r.stdout + r.stderr).toBe(0);
    expect(r.stdout).toContain(`broker ${env.broker.url}`);
    expect(r.stdout).toMatch(/✓ connect: reached 127\.0\.0\.1:\d+/);
    expect(r.stdout).toMatch(/✓ tls: encrypted \(TLSv1\.3\), certificate "localhost" issued by "Rolecall Test CA" .* verified for 127\.0\.0\.1/);
    expect(r.stdout).toMatch(/✓ ready: ready \(/);
    expect(r.stdout).toMatch(/✓ sign in: alice signed in through https:\/\/127\.0\.0\.1:\d+: groups heimdall-hr-data, heimdall-readonly; roles heimdall-hr-data, heimdall-readonly/);
    expect(r.stdout).toMatch(/✓ user login: "alice" logged in to app \(PostgreSQL 18/);
    expect(r.stdout).toMatch(/All checks passed/);
  });

  it('fails naming the broker URL that does not answer and the certificate it cannot verify', async () => {
    const file = path.join(env.dir, 'doctor-bad', 'config.json');
    const [p18] = await loadBrokerProfiles(laptopA);
    const dead = `https://127.0.0.1:${await freePort()}`;
    mkdirSync(path.dirname(file), { recursive: true });
    const bad = { ...p18!, broker: { ...p18!.broker, urls: [env.broker.url, dead] } };
    const wrongCa = { ...p18!, id: 'wrong-ca', listen: { ...p18!.listen, port: p18!.listen.port + 100 }, broker: { ...p18!.broker, caFile: env.pg15.pki.otherCaFile } };
    writeFileSync(file, JSON.stringify({ version: 1, profiles: [bad, wrongCa] }));
    const r = await cli(['doctor', '--config', file]);
    expect(r.code).toBe(1);
    expect(r.stdout).toMatch(new RegExp(`broker ${dead.replace(/[.]/g, '\\.')}\\n {4}✗ connect: cannot reach 127\\.0\\.0\\.1:\\d+ \\(ECONNREFUSED\\)`));
    expect(r.stdout).toMatch(/✗ tls: the team broker's certificate at https:\/\/127\.0\.0\.1:\d+ could not be verified: .*; it presented certificate "localhost" issued by "Rolecall Test CA"/);
    expect(r.stdout).toMatch(new RegExp(`check\\(s\\) failed: app18: broker ${dead.replace(/[.]/g, '\\.')} connect; wrong-ca: broker https://127\\.0\\.0\\.1:\\d+ tls`));
  });
});

describe('rolecall start, status and history with broker profiles', () => {
  it('serves psql through the imported profiles and reports them', async () => {
    const laptop = await startLaptop(laptopA, 2);
    try {
      for (const id of ['app18', 'app15']) {
        const psql = await run('psql', ['-X', '-At', '-c', 'select current_user', `host=127.0.0.1 port=${laptop.ports[id]} dbname=app user=alice application_name=broker-cli`], {
          env: { PATH: process.env.PATH ?? '', PGPASSWORD: USERS.alice },
        });
        expect(psql, psql.stderr).toMatchObject({ code: 0, stdout: 'alice\n' });
      }
      const status = await cli(['status', '--config', laptopA, '--json']);
      const s = JSON.parse(status.stdout) as { running: boolean; proxies: { profileId: string; mode: string; state: string; counters: { brokerCalls: number } }[] };
      expect(s.running).toBe(true);
      expect(s.proxies.map((p) => [p.profileId, p.mode, p.state])).toEqual([
        ['app18', 'broker', 'running'],
        ['app15', 'broker', 'running'],
      ]);
      expect(s.proxies[0]?.counters.brokerCalls).toBe(1);
      expect((await cli(['status', '--config', laptopA])).stdout).toMatch(/app18\trunning\t127\.0\.0\.1:\d+\t0 connection\(s\)\tbroker/);
    } finally {
      expect(await laptop.stop()).toBe(0);
    }
    const history = await cli(['history', '--config', laptopA, '--json', '--login', 'alice']);
    const rows = history.stdout.trim().split('\n').map((l) => JSON.parse(l) as Record<string, unknown>);
    expect(rows.map((r) => [r.profileId, r.outcome, r.applicationName])).toEqual(
      expect.arrayContaining([
        ['app18', 'success', 'broker-cli'],
        ['app15', 'success', 'broker-cli'],
      ]),
    );
  });
});

describe('two laptops, one user, password windows', () => {
  it('both stay signed in within a window, and the next window rotates the password without cutting open sessions', async () => {
    const files = ['laptop-1', 'laptop-2'].map((d) => path.join(env.dir, d, 'config.json'));
    for (const file of files) {
      const p = await env.profileFor('short18', 'app18', (x) => ({ ...x, broker: { ...x.broker, urls: [short.url] }, cache: { marginSeconds: 1, negativeTtlSeconds: 30 }, pool: { idleSeconds: 0 } }));
      mkdirSync(path.dirname(file), { recursive: true });
      expect(await new ProfileStore(file).save({ version: 1, profiles: [p] })).toBeNull();
    }
    const [one, two] = await Promise.all(files.map((f) => startLaptop(f, 1)));
    try {
      const port1 = one!.ports.short18!;
      const port2 = two!.ports.short18!;
      // Learn the window's password from the broker (to look for it in the laptop's files later).
      const answer = await short.post<SignInResponse>('/v1/sign-in', { login: 'erin', password: USERS.erin, database: 'app18' });
      databasePasswords.push(answer.body.password);
      const first = await verifier('erin');
      const s1 = await connect(port1, 'erin', USERS.erin);
      const s2 = await connect(port2, 'erin', USERS.erin);
      for (const c of [s1, s2]) expect((await c.query<{ u: string }>('select current_user as u')).rows[0]?.u).toBe('erin');
      // Each laptop signing in again within the window keeps the other's password working.
      await (await connect(port2, 'erin', USERS.erin)).end();
      await (await connect(port1, 'erin', USERS.erin)).end();
      for (const c of [s1, s2]) expect((await c.query('select 1')).rowCount).toBe(1);

      // The next window: laptop 2 signs in again and the broker sets the next password.
      await waitFor(
        'the next window\'s password',
        async () => {
          await (await connect(port2, 'erin', USERS.erin)).end();
          const now = await verifier('erin');
          return now !== first ? now : undefined;
        },
        30_000,
        500,
      );
      const later = await short.post<SignInResponse>('/v1/sign-in', { login: 'erin', password: USERS.erin, database: 'app18' });
      databasePasswords.push(later.body.password);
      expect(later.body.password).not.toBe(answer.body.password);
      // Sessions opened with the old password stay open and keep working.
      for (const c of [s1, s2]) expect((await c.query<{ u: string }>('select current_user as u')).rows[0]?.u).toBe('erin');
      // Laptop 1's cached password ended with its window: it asks again and gets in.
      const again = await connect(port1, 'erin', USERS.erin);
      expect((await again.query('select 1')).rowCount).toBe(1);
      await Promise.all([s1.end(), s2.end(), again.end()]);
      const status = JSON.parse((await cli(['status', '--config', files[0]!, '--json'])).stdout) as { proxies: { counters: { brokerCalls: number; succeeded: number; denied: number; failed: number } }[] };
      expect(status.proxies[0]?.counters).toMatchObject({ succeeded: 3, denied: 0, failed: 0 });
      expect(status.proxies[0]?.counters.brokerCalls).toBeGreaterThanOrEqual(2);
    } finally {
      await Promise.all([one?.stop(), two?.stop()]);
    }
  });
});

describe('no team secret, password or database password on the laptop side', () => {
  const VERIFIER = /SCRAM-SHA-256\$\d+:[A-Za-z0-9+/=]+\$/;

  function laptopFiles(): string[] {
    const walk = (d: string): string[] =>
      existsSync(d) ? readdirSync(d, { withFileTypes: true }).flatMap((e) => (e.isDirectory() ? walk(path.join(d, e.name)) : [path.join(d, e.name)])) : [];
    return readdirSync(env.dir)
      .filter((d) => d.startsWith('laptop') || d.startsWith('import') || d.startsWith('doctor'))
      .flatMap((d) => walk(path.join(env.dir, d)));
  }

  function secrets(): string[] {
    return [...env.teamSecrets, ...Object.values(USERS), ...databasePasswords];
  }

  it('finds none in the config files, CA files, status files and history databases', () => {
    const files = laptopFiles();
    expect(files.some((f) => f.endsWith('config.json'))).toBe(true);
    expect(files.some((f) => path.basename(f).startsWith('history.sqlite3'))).toBe(true);
    expect(databasePasswords).toHaveLength(2);
    for (const f of files) {
      const bytes = readFileSync(f).toString('latin1');
      for (const s of secrets()) expect(bytes, f).not.toContain(s);
      expect(bytes, f).not.toMatch(VERIFIER);
    }
  });

  it('finds none in what the laptop processes logged (debug level) and printed', () => {
    const text = output.join('\n');
    expect(text).toMatch(/signed in through the broker/);
    for (const s of secrets()) expect(text).not.toContain(s);
    expect(text).not.toMatch(VERIFIER);
  });

  it('finds nothing of the broker profiles in the OS keychain', async () => {
    if (process.env.ROLECALL_TEST_KEYRING !== '1') throw new Error('run under test/keyring-session.sh (npm test does)');
    const keytar = createRequire(import.meta.url)('keytar') as { findCredentials(service: string): Promise<{ account: string; password: string }[]> };
    const entries = await keytar.findCredentials('rolecall');
    expect(entries.filter((e) => /^(app18|app15|short18|wrong-ca)\//.test(e.account))).toEqual([]);
    for (const e of entries) for (const s of secrets()) expect(e.password).not.toBe(s);
  });
});
