import { spawn } from 'node:child_process';
import { chmodSync, chownSync, cpSync, mkdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { IIoK8sApiAppsV1Deployment } from 'kubernetes-models/apps/v1/Deployment';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BrokerConfigInput } from '../../src-main/broker/config.js';
import type { ReadyResponse, SignInResponse } from '../../src-main/core/broker-api/schema.js';
import { brokerRequest, newCredentialKey, prepareBrokerDatabase } from '../harness/broker.js';
import { DEPLOY, kustomizeBuild, only, readDockerfile, readSystemdService } from '../harness/deploy-files.js';
import { freePort, isRoot, tempDir } from '../harness/ports.js';
import { startPostgres, type PgServer } from '../harness/postgres.js';
import { populateDirectory, slapdDirectory, USERS } from '../harness/rolecall-env.js';
import { run } from '../harness/run.js';
import { startSlapd, type SlapdServer } from '../harness/slapd.js';
import { makeTestPki, type TestPki } from '../harness/tls.js';

/*
 * The image cannot be built here (no registry), so this runs what it would
 * run: the layout the Dockerfile copies (its production-only `npm ci`, no
 * install scripts, no dev dependency, no src-main/electron), the Deployment's
 * files where its volumes mount them (broker.json from the ConfigMap, the TLS
 * pair and the three secrets as files), its environment, the image's user
 * (when the test runs as root), and the exact ENTRYPOINT + CMD, against
 * slapd and PostgreSQL. Container paths live under one directory standing in
 * for the container's root.
 */

const ROOT = path.resolve(DEPLOY, '..');
const IMAGE_UID = 1000;

let ldap: SlapdServer;
let db: PgServer;
let pki: TestPki;
let dir: string;
let fsRoot: string;
let credentialKey: string;
let brokerPassword: string;

const docker = readDockerfile();
const deployment = only<IIoK8sApiAppsV1Deployment>(kustomizeBuild(path.join(DEPLOY, 'kubernetes')), 'Deployment');
const podSpec = deployment.spec!.template.spec!;
const container = podSpec.containers[0]!;
/** A path inside the container, on this machine. */
const inContainer = (p: string) => path.join(fsRoot, p);

beforeAll(async () => {
  dir = tempDir('deploy');
  fsRoot = path.join(dir, 'root');
  mkdirSync(path.join(dir, 'pki'));
  pki = makeTestPki(path.join(dir, 'pki'));
  [ldap, db] = await Promise.all([startSlapd(), startPostgres({ version: 15 })]);
  brokerPassword = `Broker-${Math.random().toString(36).slice(2)}`;
  credentialKey = newCredentialKey();
  await prepareBrokerDatabase(db, { database: 'app', groups: { 'heimdall-hr-data': 'heimdall-hr-data', 'heimdall-readonly': 'heimdall-readonly' }, brokerPassword });
  await populateDirectory(ldap);

  // The image's WORKDIR: what the final stage COPYs, with the deps stage's `npm ci` (never its cache clean: the cache is this machine's).
  const workdir = inContainer(docker.workdir!);
  mkdirSync(workdir, { recursive: true });
  const ignored = readFileSync(path.join(ROOT, '.dockerignore'), 'utf8').split('\n').filter((l) => l !== '' && !l.startsWith('#') && !l.startsWith('!') && l !== '*');
  for (const copy of [['package-lock.json', '.'], ...docker.copies]) {
    const destination = path.resolve(workdir, copy.at(-1)!);
    for (const source of copy.slice(0, -1)) {
      const target = copy.length === 2 && destination !== workdir ? destination : path.join(destination, path.basename(source));
      cpSync(path.join(ROOT, source), target, { recursive: true, filter: (src) => !ignored.some((i) => path.relative(ROOT, src) === i.replace(/\/$/, '')) });
    }
  }
  const npmCi = docker.runs.map((r) => r.split('&&')[0]!.trim()).find((r) => r.startsWith('npm ci'))!;
  const installed = await run('npm', [...npmCi.split(/\s+/).slice(1), '--prefer-offline'], { cwd: workdir, env: { ...process.env, npm_config_nodedir: '/usr' } });
  if (installed.code !== 0) throw new Error(`${npmCi} failed: ${installed.stderr}`);

  // The volumes, as mounted: ConfigMap → /etc/rolecall, Secrets → their mount paths, /tmp an emptyDir.
  const mount = (name: string) => container.volumeMounts!.find((m) => m.name === name)!.mountPath;
  const mounted = (file: string) => container.volumeMounts!.some((m) => file.startsWith(`${m.mountPath}/`));
  const base = JSON.parse(only<{ data: Record<string, string> }>(kustomizeBuild(path.join(DEPLOY, 'kubernetes')), 'ConfigMap').data['broker.json']!) as BrokerConfigInput;
  // The team's own servers instead of the example's; everything else (listen, TLS paths, drain, …) as shipped.
  const config: BrokerConfigInput = {
    ...base,
    listen: { ...base.listen, host: '127.0.0.1', port: await freePort() },
    ...(base.metrics === undefined ? {} : { metrics: { ...base.metrics, host: '127.0.0.1', port: await freePort() } }),
    directory: slapdDirectory(ldap, 3000),
    databases: [{ id: 'app', name: 'App', host: '127.0.0.1', port: db.port, database: 'app', sslmode: 'verify-full', caFile: `${mount('config')}/database-ca.pem`, suggestedLocalPort: 15432 }],
    rateLimit: { perAddressPerMinute: 1000 },
    sweep: { intervalSeconds: 0 },
  };
  const files: Record<string, string | Buffer> = {
    // The files it names are where the volumes put them, under the stand-in root.
    [`${mount('config')}/broker.json`]: JSON.stringify(config, (_k, v: unknown) => (typeof v === 'string' && mounted(v) ? inContainer(v) : v), 2),
    [`${mount('config')}/database-ca.pem`]: readFileSync(db.pki.caFile),
    [`${mount('tls')}/tls.crt`]: readFileSync(pki.certFile),
    [`${mount('tls')}/tls.key`]: readFileSync(pki.keyFile),
    // A mounted Secret's files end with whatever `kubectl create secret --from-file` was given: here a newline, as `echo` writes.
    [`${mount('secrets')}/ldap-bind-password`]: `${ldap.servicePassword}\n`,
    [`${mount('secrets')}/sync-password`]: `${brokerPassword}\n`,
    [`${mount('secrets')}/credential-key`]: `${credentialKey}\n`,
  };
  for (const [file, content] of Object.entries(files)) {
    mkdirSync(path.dirname(inContainer(file)), { recursive: true });
    writeFileSync(inContainer(file), content, { mode: 0o440 });
    // fsGroup: the pod's group owns the secret files; the user reads them through it.
    if (isRoot()) chownSync(inContainer(file), 0, podSpec.securityContext!.fsGroup!);
  }
  mkdirSync(inContainer('/tmp'), { recursive: true });
  if (isRoot()) chownSync(inContainer('/tmp'), IMAGE_UID, IMAGE_UID);
  chmodSync(inContainer('/tmp'), 0o700);
}, 300_000);

afterAll(async () => {
  await Promise.allSettled([ldap?.stop(), db?.stop()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

/** The container's environment: the image's ENV, the Deployment's env (container paths mapped), PATH for `node`. */
function containerEnv(): NodeJS.ProcessEnv {
  const env: NodeJS.ProcessEnv = { PATH: `${path.dirname(process.execPath)}:/usr/bin:/bin`, HOME: inContainer('/tmp'), TMPDIR: inContainer('/tmp'), ...docker.env };
  for (const e of container.env ?? []) env[e.name] = e.value?.startsWith('/') ? inContainer(e.value) : e.value;
  return env;
}

describe('the image\'s entrypoint with the Deployment\'s files', () => {
  it('starts from the production-only layout as the image\'s user, is ready, signs in with the mounted secrets, and exits 0 on SIGTERM', async () => {
    const argv = [...docker.entrypoint, ...docker.cmd].map((a) => (a.startsWith('/') ? inContainer(a) : a));
    expect(argv[0]).toBe('node');
    const child = spawn(process.execPath, argv.slice(1), {
      cwd: inContainer(docker.workdir!),
      env: containerEnv(),
      stdio: ['ignore', 'pipe', 'pipe'],
      ...(isRoot() ? { uid: IMAGE_UID, gid: IMAGE_UID } : {}),
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const exited = new Promise<number | null>((resolve) => child.once('exit', (code) => resolve(code)));
    try {
      const ready = await new Promise<{ port: number; metricsUrl?: string }>((resolve, reject) => {
        const timer = setTimeout(() => reject(new Error(`no ready line within 60 s:\n${err.slice(-3000)}`)), 60_000);
        child.stdout.on('data', () => {
          const line = out.split('\n').find((l) => l.includes('"event":"ready"'));
          if (line !== undefined) {
            clearTimeout(timer);
            resolve(JSON.parse(line) as { port: number; metricsUrl?: string });
          }
        });
        void exited.then((code) => reject(new Error(`the broker exited with ${code}:\n${err.slice(-3000)}`)));
      });
      const url = `https://127.0.0.1:${ready.port}`;
      // What the probes ask.
      expect((await brokerRequest(url, pki.caFile, '/healthz')).status).toBe(200);
      const readyz = await brokerRequest<ReadyResponse>(url, pki.caFile, container.readinessProbe!.httpGet!.path!);
      expect(readyz.status, readyz.text).toBe(200);
      expect(readyz.body.checks.map((c) => c.ok)).toEqual([true, true]);
      // The three secrets came from the files: the directory bind (service account), the sync login, and the key.
      const signIn = await brokerRequest<SignInResponse>(url, pki.caFile, '/v1/sign-in', { body: { login: 'alice', password: USERS.alice, database: 'app' } });
      expect(signIn.status, signIn.text).toBe(200);
      const login = await run('psql', ['-h', '127.0.0.1', '-p', String(db.port), '-U', 'alice', '-d', 'app', '-X', '-At', '-c', 'select current_user'], {
        env: { PATH: process.env.PATH ?? '', PGPASSWORD: signIn.body.password, PGSSLMODE: 'require' },
      });
      expect(login.stdout.trim(), login.stderr).toBe('alice');
      // What Prometheus scrapes: the sign-in counted, on the port the Deployment names `metrics`.
      expect(ready.metricsUrl).toBeDefined();
      const metrics = await fetch(ready.metricsUrl!);
      expect(metrics.status).toBe(200);
      expect(await metrics.text()).toMatch(/rolecall_broker_sign_ins_total\{[^}]*outcome="ok"[^}]*\} 1/);

      child.kill('SIGTERM');
      expect(await exited).toBe(0);
      expect(err).toContain('SIGTERM: draining');
      // Nothing in the logs of the secrets it read.
      for (const secret of [ldap.servicePassword, brokerPassword, credentialKey, signIn.body.password]) expect(out + err).not.toContain(secret);
    } finally {
      child.kill('SIGKILL');
    }
  });

  it('the systemd unit\'s --check runs the same command with --check, and its node is the same program', () => {
    const unit = readSystemdService();
    const pre = unit.get('ExecStartPre')![0]!.split(/\s+/);
    const start = unit.get('ExecStart')![0]!.split(/\s+/);
    expect(pre.filter((a) => a !== '--check')).toEqual(start);
    expect(path.basename(start[0]!)).toBe('node');
  });
});
