import { spawn, type ChildProcess } from 'node:child_process';
import { readFileSync, writeFileSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { randomBytes } from 'node:crypto';
import type { BrokerConfigInput } from '../../src-main/broker/config.js';
import { buildScramVerifier } from '../../src-main/core/sync/scram-verifier.js';
import type { PgServer } from './postgres.js';

/*
 * The team broker as its own process, started with the real CLI
 * (`rolecall broker --config FILE`), and a small HTTPS client for its API
 * that checks the broker's certificate against the test CA.
 */

const ROOT = path.resolve(import.meta.dirname, '../..');

export interface BrokerReply<T = unknown> {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: T;
  /** The raw text of the answer. */
  text: string;
}

export interface RequestOptions {
  method?: string;
  /** A string is sent as is; anything else as JSON. */
  body?: unknown;
  headers?: Record<string, string>;
  /** Source address (e.g. 127.0.0.2, to be another client on loopback). */
  localAddress?: string;
  /** A client (device) certificate. */
  cert?: Buffer;
  key?: Buffer;
}

/** One HTTPS request to the broker; resolves with status, headers and the parsed JSON body (or the text). */
export function brokerRequest<T = unknown>(baseUrl: string, caFile: string, route: string, options: RequestOptions = {}): Promise<BrokerReply<T>> {
  const url = new URL(route, baseUrl);
  const payload = options.body === undefined ? undefined : typeof options.body === 'string' ? options.body : JSON.stringify(options.body);
  return new Promise((resolve, reject) => {
    const req = https.request(
      {
        host: url.hostname,
        port: url.port,
        path: url.pathname,
        method: options.method ?? (payload === undefined ? 'GET' : 'POST'),
        ca: readFileSync(caFile),
        servername: 'localhost',
        agent: false,
        ...(options.localAddress === undefined ? {} : { localAddress: options.localAddress }),
        ...(options.cert === undefined ? {} : { cert: options.cert, key: options.key }),
        headers: {
          ...(payload === undefined ? {} : { 'content-type': 'application/json', 'content-length': String(Buffer.byteLength(payload)) }),
          ...options.headers,
        },
      },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => {
          const text = Buffer.concat(chunks).toString('utf8');
          let body: unknown = text;
          try {
            body = JSON.parse(text);
          } catch {
            // Not JSON: keep the text.
          }
          resolve({ status: res.statusCode ?? 0, headers: res.headers, body: body as T, text });
        });
        res.on('error', reject);
      },
    );
    req.on('error', reject);
    req.end(payload);
  });
}

export interface BrokerProcess {
  url: string;
  /** The broker's process id (for its CPU and memory in the bench). */
  pid: number;
  port: number;
  replica: string;
  caFile: string;
  /** Everything the broker wrote to stderr (its JSON log lines). */
  stderr(): string;
  stdout(): string;
  request<T = unknown>(route: string, options?: RequestOptions): Promise<BrokerReply<T>>;
  /** POST a JSON body. */
  post<T = unknown>(route: string, body: unknown, options?: RequestOptions): Promise<BrokerReply<T>>;
  /** http://127.0.0.1:port/metrics when broker.json has a metrics listener. */
  metricsUrl?: string;
  /** SIGTERM, then the exit code. */
  stop(): Promise<number | null>;
  /** SIGKILL (a crashed replica: nothing drained, nothing released), then the exit signal. */
  kill(): Promise<NodeJS.Signals | null>;
  readonly exited: boolean;
}

export interface BrokerSecretsEnv {
  bindPassword: string;
  syncPassword: string;
  credentialKey: string;
}

/** A fresh credential key, as `openssl rand -base64 32` makes one. */
export function newCredentialKey(): string {
  return randomBytes(32).toString('base64');
}

/** The environment the broker reads its secrets from. */
export function brokerEnv(secrets: BrokerSecretsEnv, extra: Record<string, string> = {}): NodeJS.ProcessEnv {
  return {
    PATH: process.env.PATH ?? '',
    HOME: process.env.HOME ?? '/tmp',
    ROLECALL_LOG_LEVEL: 'debug',
    ROLECALL_BROKER_LDAP_BIND_PASSWORD: secrets.bindPassword,
    ROLECALL_BROKER_SYNC_PASSWORD: secrets.syncPassword,
    ROLECALL_BROKER_CREDENTIAL_KEY: secrets.credentialKey,
    ...extra,
  };
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/** Writes broker.json and starts `rolecall broker --config` on it; resolves at its ready line. */
export async function startBrokerProcess(
  configFile: string,
  config: BrokerConfigInput,
  env: NodeJS.ProcessEnv,
  caFile: string,
  /** Node flags before the script (e.g. --cpu-prof, which NODE_OPTIONS may not carry). */
  nodeArgs: string[] = [],
): Promise<BrokerProcess> {
  writeFileSync(configFile, JSON.stringify(config, null, 2));
  const child = spawn(process.execPath, [...nodeArgs, path.join(ROOT, 'bin/rolecall.mjs'), 'broker', '--config', configFile], {
    cwd: ROOT,
    env,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  running.add(child);
  let out = '';
  let err = '';
  let exited = false;
  child.stdout.on('data', (d: Buffer) => (out += d.toString()));
  child.stderr.on('data', (d: Buffer) => (err += d.toString()));
  let exitSignal: NodeJS.Signals | null = null;
  const exit = new Promise<number | null>((resolve) =>
    child.once('exit', (code, signal) => {
      exited = true;
      exitSignal = signal;
      running.delete(child);
      resolve(code);
    }),
  );
  const ready = await new Promise<{ url: string; port: number; replica: string; metricsUrl?: string }>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`broker did not get ready within 30 s:\n${err.slice(-3000)}`)), 30_000);
    const onData = () => {
      const line = out.split('\n').find((l) => l.includes('"event":"ready"'));
      if (line === undefined) return;
      clearTimeout(timer);
      child.stdout.off('data', onData);
      resolve(JSON.parse(line) as { url: string; port: number; replica: string; metricsUrl?: string });
    };
    child.stdout.on('data', onData);
    void exit.then((code) => {
      clearTimeout(timer);
      reject(new Error(`broker exited with ${code} before it was ready:\n${err.slice(-3000)}`));
    });
  });
  // The broker listens on 127.0.0.1; its certificate names 127.0.0.1 and localhost.
  const url = `https://127.0.0.1:${ready.port}`;
  const request = <T>(route: string, options: RequestOptions = {}) => brokerRequest<T>(url, caFile, route, options);
  return {
    url,
    pid: child.pid ?? -1,
    port: ready.port,
    replica: ready.replica,
    ...(ready.metricsUrl === undefined ? {} : { metricsUrl: ready.metricsUrl }),
    caFile,
    stderr: () => err,
    stdout: () => out,
    request,
    post: <T>(route: string, body: unknown, options: RequestOptions = {}) => request<T>(route, { ...options, body }),
    async stop() {
      if (exited) return exit;
      child.kill('SIGTERM');
      const timer = setTimeout(() => child.kill('SIGKILL'), 30_000);
      const code = await exit;
      clearTimeout(timer);
      return code;
    },
    async kill() {
      if (!exited) child.kill('SIGKILL');
      await exit;
      return exitSignal;
    },
    get exited() {
      return exited;
    },
  };
}

export interface BrokerDatabaseSetup {
  /** The database to create and install Rolecall's SQL into. */
  database: string;
  /** Directory group → database role (each role created NOLOGIN and allow-listed). */
  groups: Record<string, string>;
  /** rolecall_broker's password (roles are server-wide: one per server). */
  brokerPassword: string;
  /** Turn direct mode off (default true): only the broker may sync. */
  directModeOff?: boolean;
}

/** As a database admin would set up team mode: Rolecall installed, group roles allow-listed, rolecall_broker enabled. */
export async function prepareBrokerDatabase(pg: PgServer, setup: BrokerDatabaseSetup): Promise<void> {
  const installSql = readFileSync(path.join(ROOT, 'sql/postgres/install.sql'), 'utf8');
  await pg.query(`CREATE DATABASE "${setup.database}"`);
  const admin = await pg.connect({ database: setup.database });
  try {
    await admin.query(installSql);
    await admin.query(`ALTER ROLE rolecall_broker LOGIN PASSWORD '${buildScramVerifier(setup.brokerPassword)}'`);
    for (const [group, role] of Object.entries(setup.groups)) {
      await admin.query(`DO $$ BEGIN IF NOT EXISTS (SELECT 1 FROM pg_roles WHERE rolname = '${role}') THEN CREATE ROLE "${role}" NOLOGIN; END IF; END $$`);
      await admin.query('SELECT rolecall.allow_group($1, $2)', [group, role]);
    }
    if (setup.directModeOff !== false) await admin.query(`SELECT rolecall.configure('direct_mode', 'off')`);
  } finally {
    await admin.end();
  }
}
