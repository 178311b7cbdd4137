import { mkdirSync, readFileSync, rmSync } from 'node:fs';
import https from 'node:https';
import path from 'node:path';
import { buildScramVerifier } from '../src-main/core/sync/scram-verifier.js';
import { newCredentialKey, startBrokerProcess, type BrokerProcess } from '../test/harness/broker.js';
import type { PgServer } from '../test/harness/postgres.js';
import { tempDir } from '../test/harness/ports.js';
import type { SlapdServer } from '../test/harness/slapd.js';
import { makeTestPki } from '../test/harness/tls.js';
import { benchBrokerConfig, benchBrokerEnv, benchBrokerNodeArgs } from './broker-bench.js';
import { startHaproxy } from '../test/harness/haproxy.js';
import { findPid, processCpuMs, treeCpuMs } from './proc-cpu.js';
import { median, percentile, round } from './stats.js';

/*
 * (i) the broker at team scale: sign-ins per second and their latency with
 * one replica and with three behind HAProxy (TCP mode, TLS passed through,
 * least connections, /readyz checks), all on this machine's cores with
 * PostgreSQL, slapd and the load generator.
 *
 * Each phase starts its replicas with a fresh credential key, so every
 * user's first sign-in is the first in a new window for that key: cold (the
 * directory checks the password, the sync sets the new password). Then the
 * same users sign in again for a while: warm (same window, the sync is
 * `unchanged`; the directory still checks the password every time), after
 * WARMUP_SECONDS of the same untimed.
 * The load: CONCURRENCY laptop proxies, each with its keep-alive HTTPS
 * connection (as the laptop's broker client keeps one), signing in back to back.
 */

export interface ScalePhase {
  replicas: number;
  /** How the load reaches the replicas. */
  via: 'direct' | 'haproxy';
  cold: Rate;
  warm: Rate;
  /** Warm sign-ins offered at PACED_RATE per second (open loop): the latency a team sees at that rate. */
  paced: Rate;
  /** Broker CPU (all replicas) per warm sign-in, ms. */
  cpuMsPerWarmSignIn: number;
  /** CPU per warm sign-in of everything else on the machine's cores for it, ms: where a miss comes from. */
  otherCpuMsPerWarmSignIn: { slapd: number; postgres: number; haproxy: number; load: number };
  /** Each replica's resident memory after the warm load, MB. */
  rssMb: number[];
}

export interface Rate {
  signIns: number;
  failures: number;
  perSecond: number;
  p50Ms: number;
  p99Ms: number;
}

export interface BrokerScale {
  users: number;
  concurrency: number;
  warmSeconds: number;
  rounds: number;
  /** Every phase as measured, in run order. */
  phases: ScalePhase[];
  /** Medians over the rounds, per replica count. */
  one: ScalePhase;
  three: ScalePhase;
  /** three.warm.perSecond / one.warm.perSecond. */
  warmRatio: number;
}

const CONCURRENCY = Number(process.env.BENCH_BROKER_CONCURRENCY ?? 8);
const WARM_SECONDS = Number(process.env.BENCH_BROKER_SECONDS ?? 8);
const ROUNDS = Number(process.env.BENCH_BROKER_ROUNDS ?? 3);
const WARMUP_SECONDS = 2;
const USERS = Number(process.env.BENCH_BROKER_USERS ?? 100);
/** The rate: warm sign-ins offered per second in the paced measure. */
export const PACED_RATE = Number(process.env.BENCH_BROKER_RATE ?? 200);

function rssMb(pid: number): number {
  const line = readFileSync(`/proc/${pid}/status`, 'utf8').split('\n').find((l) => l.startsWith('VmRSS:')) ?? 'VmRSS: 0 kB';
  return round(Number(line.split(/\s+/)[1]) / 1024, 1);
}

interface Load {
  latencies: number[];
  failures: number;
  firstFailure?: string;
  elapsedMs: number;
}

/** One sign-in on a laptop proxy's keep-alive connection: its latency in ms, or the failure. */
function signIn(agent: https.Agent, port: number, login: string, password: string): Promise<{ ms: number } | { error: string }> {
  const body = JSON.stringify({ login, password, database: 'app' });
  const t0 = performance.now();
  return new Promise((resolve) => {
    const req = https.request(
      { host: '127.0.0.1', port, path: '/v1/sign-in', method: 'POST', agent, servername: 'localhost', headers: { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body) } },
      (res) => {
        const chunks: Buffer[] = [];
        res.on('data', (c: Buffer) => chunks.push(c));
        res.on('end', () => (res.statusCode === 200 ? resolve({ ms: performance.now() - t0 }) : resolve({ error: `${res.statusCode}: ${Buffer.concat(chunks).toString('utf8').slice(0, 300)}` })));
      },
    );
    req.on('error', (e) => resolve({ error: e.message }));
    req.end(body);
  });
}

/** `concurrency` workers sign in the next login from `next` until it says stop. */
async function drive(port: number, ca: Buffer, concurrency: number, password: string, next: () => string | undefined): Promise<Load> {
  const load: Load = { latencies: [], failures: 0, elapsedMs: 0 };
  const agents = Array.from({ length: concurrency }, () => new https.Agent({ keepAlive: true, maxSockets: 1, ca }));
  const t0 = performance.now();
  await Promise.all(
    agents.map(async (agent) => {
      for (let login = next(); login !== undefined; login = next()) {
        const r = await signIn(agent, port, login, password);
        if ('ms' in r) load.latencies.push(r.ms);
        else {
          load.failures++;
          load.firstFailure ??= r.error;
        }
      }
    }),
  );
  load.elapsedMs = performance.now() - t0;
  for (const a of agents) a.destroy();
  return load;
}

/**
 * Open loop: a sign-in is started every 1/perSecond s whatever the earlier
 * ones are doing (laptops do not wait for each other), each on a free
 * keep-alive connection of a pool. Its latency counts from when it was due,
 * so time spent queued behind a slow broker is in the p99 (no coordinated
 * omission); the closed-loop `drive` instead measures how fast it can go.
 */
async function paced(port: number, ca: Buffer, perSecond: number, seconds: number, password: string, logins: string[]): Promise<Load> {
  const load: Load = { latencies: [], failures: 0, elapsedMs: 0 };
  const agent = new https.Agent({ keepAlive: true, maxSockets: 64, ca });
  const total = Math.round(perSecond * seconds);
  const t0 = performance.now();
  const inFlight: Promise<void>[] = [];
  for (let i = 0; i < total; i++) {
    const due = t0 + (i * 1000) / perSecond;
    const wait = due - performance.now();
    if (wait > 0) await new Promise((r) => setTimeout(r, wait));
    inFlight.push(
      signIn(agent, port, logins[i % logins.length]!, password).then((r) => {
        if ('ms' in r) load.latencies.push(performance.now() - due);
        else {
          load.failures++;
          load.firstFailure ??= r.error;
        }
      }),
    );
  }
  await Promise.all(inFlight);
  load.elapsedMs = performance.now() - t0;
  agent.destroy();
  return load;
}

function rate(load: Load): Rate {
  return {
    signIns: load.latencies.length,
    failures: load.failures,
    perSecond: round(load.latencies.length / (load.elapsedMs / 1000), 0),
    p50Ms: round(median(load.latencies), 1),
    p99Ms: round(percentile(load.latencies, 99), 1),
  };
}

interface ServerPids {
  slapd?: number;
  postgres?: number;
}

async function phase(
  replicas: number,
  servers: ServerPids,
  start: (name: string, credentialKey: string) => Promise<BrokerProcess>,
  ca: Buffer,
  caFile: string,
  logins: string[],
  password: string,
  log: (m: string) => void,
): Promise<ScalePhase> {
  const key = newCredentialKey();
  const brokers: BrokerProcess[] = [];
  for (let i = 0; i < replicas; i++) brokers.push(await start(`r${replicas}-${i}`, key));
  const replicaNames = brokers.map((_, i) => `r${i + 1}`);
  const proxy =
    replicas > 1
      ? await startHaproxy(tempDir('bench-haproxy'), caFile, brokers.map((b, i) => ({ name: replicaNames[i]!, port: b.port })), { balance: 'leastconn', checkIntervalMs: 2000 })
      : undefined;
  try {
    const port = proxy?.port ?? brokers[0]!.port;
    // HAProxy's first health checks must pass, so no replica is skipped at the start.
    if (proxy) await proxy.waitUp(replicaNames);
    let i = 0;
    const cold = await drive(port, ca, CONCURRENCY, password, () => logins[i++]);
    if (cold.failures > 0) throw new Error(`${cold.failures} cold sign-ins failed, e.g. ${cold.firstFailure}`);
    // Untimed: long-running replicas have their code optimised; a fresh process has not (each of three gets a third of the cold pass).
    const warmupUntil = performance.now() + WARMUP_SECONDS * 1000;
    let w = 0;
    await drive(port, ca, CONCURRENCY, password, () => (performance.now() < warmupUntil ? logins[w++ % logins.length] : undefined));
    const cpu = () => ({
      broker: brokers.reduce((s, b) => s + processCpuMs(b.pid), 0),
      slapd: servers.slapd === undefined ? 0 : processCpuMs(servers.slapd),
      postgres: servers.postgres === undefined ? 0 : treeCpuMs(servers.postgres),
      haproxy: proxy === undefined ? 0 : processCpuMs(proxy.pid),
      load: (process.cpuUsage().user + process.cpuUsage().system) / 1000,
    });
    const cpuBefore = cpu();
    const until = performance.now() + WARM_SECONDS * 1000;
    let j = 0;
    const warm = await drive(port, ca, CONCURRENCY, password, () => (performance.now() < until ? logins[j++ % logins.length] : undefined));
    const cpuAfter = cpu();
    const per = (k: keyof typeof cpuAfter) => round((cpuAfter[k] - cpuBefore[k]) / warm.latencies.length, 2);
    if (warm.failures > 0) throw new Error(`${warm.failures} warm sign-ins failed, e.g. ${warm.firstFailure}`);
    const atRate = await paced(port, ca, PACED_RATE, WARM_SECONDS, password, logins);
    if (atRate.failures > 0) throw new Error(`${atRate.failures} paced sign-ins failed, e.g. ${atRate.firstFailure}`);
    const result: ScalePhase = {
      replicas,
      via: proxy ? 'haproxy' : 'direct',
      cold: rate(cold),
      warm: rate(warm),
      paced: rate(atRate),
      cpuMsPerWarmSignIn: per('broker'),
      otherCpuMsPerWarmSignIn: { slapd: per('slapd'), postgres: per('postgres'), haproxy: per('haproxy'), load: per('load') },
      rssMb: brokers.map((b) => rssMb(b.pid)),
    };
    log(
      `(i) ${replicas} replica(s)${proxy ? ' behind HAProxy' : ''}: cold ${result.cold.perSecond}/s (p50 ${result.cold.p50Ms} ms, p99 ${result.cold.p99Ms} ms), ` +
        `warm ${result.warm.perSecond}/s (p50 ${result.warm.p50Ms} ms, p99 ${result.warm.p99Ms} ms), at ${PACED_RATE}/s offered p50 ${result.paced.p50Ms} ms, p99 ${result.paced.p99Ms} ms, CPU ms per warm sign-in: broker ${result.cpuMsPerWarmSignIn}, slapd ${result.otherCpuMsPerWarmSignIn.slapd}, PostgreSQL ${result.otherCpuMsPerWarmSignIn.postgres}, HAProxy ${result.otherCpuMsPerWarmSignIn.haproxy}, load ${result.otherCpuMsPerWarmSignIn.load}; RSS ${result.rssMb.join(' / ')} MB`,
    );
    return result;
  } finally {
    await proxy?.stop();
    await Promise.all(brokers.map((b) => b.stop()));
  }
}

/** The median phase of a set by warm rate (the whole phase, so its numbers belong together). */
function medianPhase(phases: ScalePhase[]): ScalePhase {
  const sorted = [...phases].sort((a, b) => a.warm.perSecond - b.warm.perSecond);
  return sorted[Math.floor((sorted.length - 1) / 2)]!;
}

export async function measureBrokerScale(pgServer: PgServer, ldap: SlapdServer, group: string, serverTls: boolean, log: (m: string) => void): Promise<BrokerScale> {
  const dir = tempDir('bench-scale');
  mkdirSync(path.join(dir, 'pki'));
  const pki = makeTestPki(path.join(dir, 'pki'));
  const ca = readFileSync(pki.caFile);
  const brokerPassword = `broker-${Math.random().toString(36).slice(2)}`;
  await pgServer.query(`ALTER ROLE rolecall_broker LOGIN PASSWORD '${buildScramVerifier(brokerPassword)}'`);
  const password = `scale-${Math.random().toString(36).slice(2)}-Pw1`;
  const logins = Array.from({ length: USERS }, (_, i) => `bscale${String(i).padStart(3, '0')}`);
  const dns: string[] = [];
  for (const login of logins) dns.push(await ldap.addUser(login, password));
  await ldap.addMembers(group, dns);
  const config = benchBrokerConfig(pgServer, ldap, pki, serverTls, { maxConnectionsPerAddress: 1024 });
  const start = (name: string, credentialKey: string) =>
    startBrokerProcess(path.join(dir, `${name}.json`), config, benchBrokerEnv(ldap, brokerPassword, credentialKey), pki.caFile, benchBrokerNodeArgs());
  const servers: ServerPids = {
    ...(() => {
      try {
        return { slapd: Number(readFileSync(path.join(ldap.dir, 'slapd.pid'), 'utf8').trim()) };
      } catch {
        return {};
      }
    })(),
    ...(() => {
      const postgres = findPid(['-p', String(pgServer.port)]);
      return postgres === undefined ? {} : { postgres };
    })(),
  };
  const phases: ScalePhase[] = [];
  try {
    for (let round = 0; round < ROUNDS; round++) {
      // Alternate which runs first, so neither always gets the fresher machine.
      for (const replicas of round % 2 === 0 ? [1, 3] : [3, 1]) phases.push(await phase(replicas, servers, start, ca, pki.caFile, logins, password, log));
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  const one = medianPhase(phases.filter((p) => p.replicas === 1));
  const three = medianPhase(phases.filter((p) => p.replicas === 3));
  return { users: USERS, concurrency: CONCURRENCY, warmSeconds: WARM_SECONDS, rounds: ROUNDS, phases, one, three, warmRatio: round(three.warm.perSecond / one.warm.perSecond, 2) };
}
