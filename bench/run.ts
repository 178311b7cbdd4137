/**
 * `npm run bench`: Rolecall against a direct connection and PgBouncer, on
 * servers it starts itself (PostgreSQL 15, slapd, PgBouncer, the proxy in a
 * child process). Prints a table of medians and ratios and writes
 * bench/results/latest.json and latest.md. See bench/README.md.
 *
 * BENCH_ROUNDS (default 3) and BENCH_SECONDS (default 10) size the pgbench runs.
 */
import { execFileSync } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import pg from 'pg';
import { startPostgres, type PgServer } from '../test/harness/postgres.js';
import { startSlapd, type SlapdServer } from '../test/harness/slapd.js';
import { freePort, tempDir } from '../test/harness/ports.js';
import { installRolecall } from '../test/harness/rolecall-env.js';
import type { ProfileInput } from '../src-main/core/profiles/schema.js';
import { pgbench, pgbenchLatencies, PGBENCH, run, libpqEnv, type Endpoint } from './pgbench.js';
import { PGBOUNCER, startPgBouncer, type PgBouncer } from './pgbouncer.js';
import { ProxyChild } from './proxy-process.js';
import { brokerScaleMarkdown, brokerScaleTargets, toMarkdown, type IdleCost, type Latency, type Results, type Target } from './report.js';
import { measureBrokerScale, type BrokerScale } from './broker-scale.js';
import { HAPROXY } from '../test/harness/haproxy.js';
import { median, percentile, round } from './stats.js';
import { measureBrokerLogins, type BrokerLogin } from './broker-bench.js';
import { measureDirectorySignIns, type DirectorySignIns } from './directory-bench.js';

const ROUNDS = Number(process.env.BENCH_ROUNDS ?? 3);
const SECONDS = Number(process.env.BENCH_SECONDS ?? 10);
/** BENCH_SERVER_TLS=off: every path reaches PostgreSQL in plaintext (to see what TLS costs). */
const SERVER_TLS = process.env.BENCH_SERVER_TLS !== 'off';
/** BENCH_PROXY_SSLMODE=require: the proxy's sslmode to PostgreSQL when TLS is on (default verify-full with the CA file). */
const PROXY_SSLMODE = (process.env.BENCH_PROXY_SSLMODE ?? 'verify-full') as 'require' | 'verify-ca' | 'verify-full';
/** BENCH_PG=18: the embedded PostgreSQL 18 instead of Debian's 15 (e.g. for direct TLS, which needs 17+). */
const PG_VERSION = process.env.BENCH_PG === '18' ? 18 : 15;
/** BENCH_PROXY_SSLNEGOTIATION=direct: the proxy's database.sslnegotiation (direct TLS on PostgreSQL 17+, else SSLRequest). */
const PROXY_SSLNEGOTIATION = process.env.BENCH_PROXY_SSLNEGOTIATION === 'direct' ? 'direct' : 'postgres';
/** BENCH_ONLY=a,e: run only these measures, print them, and leave the saved results alone (for quick experiments). */
const ONLY = new Set((process.env.BENCH_ONLY ?? 'a,b,c,d,e,f,g,h,i').split(',').map((x) => x.trim()));
const PARTIAL = !['a', 'b', 'c', 'd', 'e', 'f', 'g', 'h', 'i'].every((x) => ONLY.has(x));
const COLD_USERS = 40;
const IDLE_CLIENTS = 1000;
const COPY_ROWS = 100_000; // × ~1 KB per row ≈ 100 MB
/** (h): authenticated clients left idle, and for how long. */
const IDLE_COST_CLIENTS = 10;
const IDLE_COST_SECONDS = Number(process.env.BENCH_IDLE_SECONDS ?? 60);
const HERE = import.meta.dirname;
const NAMES = ['direct', 'pgbouncer', 'rolecall'] as const;
type Name = (typeof NAMES)[number];
/** (a), (g), (h) also run a second proxy on the Node that Electron embeds: 'shipped'. */
type PathName = Name | 'shipped';

/**
 * The Node that the desktop app's Electron embeds (bench/install-node.sh installs
 * it from the npm registry into .cache), or none with BENCH_SHIPPED_NODE=off.
 * BENCH_SHIPPED_NODE=/path/to/node uses that binary instead.
 */
function shippedNode(): string | null {
  const choice = process.env.BENCH_SHIPPED_NODE ?? 'auto';
  if (choice === 'off') return null;
  if (choice !== 'auto') return choice;
  return execFileSync('sh', [path.join(HERE, 'install-node.sh')], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'inherit'] }).trim();
}

/** (h): idle clients on each proxy at once, then the CPU and timer wake-ups of each proxy process over the idle time. */
async function measureIdleCost(proxies: { name: PathName; child: ProxyChild; config: pg.ClientConfig }[]): Promise<IdleCost[]> {
  const clients: pg.Client[] = [];
  for (const p of proxies) {
    for (let i = 0; i < IDLE_COST_CLIENTS; i++) {
      const c = new pg.Client(p.config);
      c.on('error', () => undefined);
      await c.connect();
      await c.query('select 1');
      clients.push(c);
    }
  }
  // Let the logins' own work finish (sync pool, pooled directory connections) and collect what earlier measures left behind.
  await Promise.all(proxies.map((p) => p.child.status(true)));
  await new Promise((r) => setTimeout(r, 5000));
  const before = await Promise.all(proxies.map((p) => p.child.status()));
  await new Promise((r) => setTimeout(r, IDLE_COST_SECONDS * 1000));
  const after = await Promise.all(proxies.map((p) => p.child.status()));
  await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
  return proxies.map((p, i) => ({
    name: p.name,
    node: after[i]!.node,
    clients: IDLE_COST_CLIENTS,
    seconds: IDLE_COST_SECONDS,
    cpuMsPerMinute: round(((after[i]!.cpuMs - before[i]!.cpuMs) * 60) / IDLE_COST_SECONDS, 1),
    wakeupsPerMinute: round(((after[i]!.timerWakeups - before[i]!.timerWakeups) * 60) / IDLE_COST_SECONDS, 1),
  }));
}

function log(message: string): void {
  process.stdout.write(`[bench ${new Date().toISOString().slice(11, 19)}] ${message}\n`);
}

/** pgbench (postgresql-contrib) and pgbouncer from Debian when missing. */
function ensureTools(): void {
  const missing: string[] = [];
  if (!existsSync(PGBENCH) && !existsSync('/usr/bin/pgbench')) missing.push('postgresql-contrib');
  if (!existsSync('/usr/lib/postgresql/15/bin/postgres')) missing.push('postgresql');
  if (!existsSync(PGBOUNCER)) missing.push('pgbouncer');
  if (!existsSync(HAPROXY)) missing.push('haproxy');
  if (missing.length === 0) return;
  if (process.getuid?.() !== 0) throw new Error(`missing Debian packages: ${missing.join(' ')} (run: sudo apt-get install -y ${missing.join(' ')})`);
  log(`installing ${missing.join(' ')} from Debian`);
  execFileSync('apt-get', ['update', '-qq'], { stdio: 'inherit' });
  execFileSync('apt-get', ['install', '-y', '-qq', '--no-install-recommends', ...missing], { stdio: 'inherit', env: { ...process.env, DEBIAN_FRONTEND: 'noninteractive' } });
}

function rand(): string {
  return Math.random().toString(36).slice(2, 10);
}

async function connectTime(config: pg.ClientConfig): Promise<number> {
  const c = new pg.Client(config);
  c.on('error', () => undefined);
  const t0 = performance.now();
  await c.connect();
  const ms = performance.now() - t0;
  await c.end();
  return ms;
}

async function main(): Promise<void> {
  ensureTools();
  const started = Date.now();
  const loadBefore = os.loadavg();
  log(`starting PostgreSQL ${PG_VERSION}, slapd (proxy sslnegotiation ${PROXY_SSLNEGOTIATION}; load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')})`);
  const cleanup: (() => Promise<void>)[] = [];
  let pgServer: PgServer | undefined;
  let ldap: SlapdServer | undefined;
  let bouncer: PgBouncer | undefined;
  let proxy: ProxyChild | undefined;
  try {
    [pgServer, ldap] = await Promise.all([startPostgres({ version: PG_VERSION, settings: { max_connections: '1300', shared_buffers: '256MB' } }), startSlapd()]);
    cleanup.push(() => pgServer!.stop(), () => ldap!.stop());
    const syncPassword = await installRolecall(pgServer);

    const benchPassword = `bench-${rand()}-Pw1`;
    const benchDn = await ldap.addUser('bench', benchPassword);
    const coldPassword = `cold-${rand()}-Pw1`;
    const coldDns: string[] = [];
    for (let i = 0; i < COLD_USERS; i++) coldDns.push(await ldap.addUser(`cold${String(i).padStart(3, '0')}`, coldPassword));
    await ldap.addGroup('heimdall-hr-data', [benchDn]);
    await ldap.addGroup('heimdall-readonly', coldDns);

    const admin: Endpoint = { name: 'direct', port: pgServer.port, sslmode: 'require' };
    log('pgbench -i (scale 1)');
    const init = await run(PGBENCH, ['-i', '-s', '1', '-q'], libpqEnv(admin, 'postgres', pgServer.adminPassword));
    if (init.code !== 0) throw new Error(`pgbench -i failed: ${init.stderr}`);
    const app = await pgServer.connect({ database: 'app' });
    await app.query('GRANT SELECT ON ALL TABLES IN SCHEMA public TO "heimdall-hr-data"');
    await app.end();

    log('starting the Rolecall proxy (child process)');
    const port = await freePort();
    const tlsDir = tempDir('bench-tls');
    cleanup.push(async () => rmSync(tlsDir, { recursive: true, force: true }));
    const profile: ProfileInput = {
      id: 'bench',
      name: 'Benchmark',
      directory: { kind: 'openldap', url: ldap.url, bindDn: ldap.serviceDn, baseDn: ldap.baseDn, groupStrategy: 'member-nested', groupPrefix: 'heimdall-', timeoutMs: 5000 },
      database: { host: '127.0.0.1', port: pgServer.port, database: 'app', sslmode: SERVER_TLS ? PROXY_SSLMODE : 'disable', ...(SERVER_TLS ? { sslnegotiation: PROXY_SSLNEGOTIATION } : {}), ...(PROXY_SSLMODE === 'require' ? {} : { caFile: pgServer.pki.caFile }), connectTimeoutMs: 10_000 },
      listen: { host: '127.0.0.1', port, maxClients: IDLE_CLIENTS + 100, authTimeoutMs: 30_000 },
      cache: { ttlSeconds: 3600, negativeTtlSeconds: 30, passwordValidForSeconds: 7200 },
      // The app's default: (h) counts the revalidation timer as a developer's tray has it.
      revalidate: { intervalSeconds: 300 },
      pool: { idleSeconds: 30, maxIdlePerKey: 4, resetQuery: 'DISCARD ALL' },
    };
    proxy = await ProxyChild.start();
    const child = proxy;
    cleanup.push(async () => {
      await child.request({ type: 'stop' }, 'stopped').catch(() => undefined);
    });
    await proxy.request({ type: 'start', profile, bindPassword: ldap.servicePassword, syncPassword, tlsDir }, 'started');
    const shippedBinary = shippedNode();
    let shipped: ProxyChild | undefined;
    const shippedPort = await freePort();
    if (shippedBinary) {
      log(`starting a second proxy on ${shippedBinary}`);
      shipped = await ProxyChild.start(shippedBinary);
      const second = shipped;
      cleanup.push(async () => {
        await second.request({ type: 'stop' }, 'stopped').catch(() => undefined);
      });
      await shipped.request({ type: 'start', profile: { ...profile, listen: { ...profile.listen, port: shippedPort } }, bindPassword: ldap.servicePassword, syncPassword, tlsDir: `${tlsDir}-shipped` }, 'started');
      cleanup.push(async () => rmSync(`${tlsDir}-shipped`, { recursive: true, force: true }));
    }
    const shippedVersion = shipped ? (await shipped.status()).node : undefined;

    const endpoints: Record<PathName, Endpoint> = {
      direct: { name: 'direct', port: pgServer.port, sslmode: SERVER_TLS ? 'require' : 'disable' },
      pgbouncer: { name: 'pgbouncer', port: 0, sslmode: 'disable' },
      rolecall: { name: 'rolecall', port, sslmode: 'disable' },
      shipped: { name: `rolecall on Node ${shippedVersion ?? '-'}`, port: shippedPort, sslmode: 'disable' },
    };
    const A_PATHS: PathName[] = shipped ? [...NAMES, 'shipped'] : [...NAMES];
    // The first login through Rolecall creates the role and its SCRAM verifier; PgBouncer's auth_file copies it.
    // Each proxy's first login syncs (a new salt), so the second proxy logs in before the verifier is copied.
    for (const name of A_PATHS.filter((n) => n === 'rolecall' || n === 'shipped')) {
      const first = await run('psql', ['-X', '-At', '-c', 'select current_user'], libpqEnv(endpoints[name], 'bench', benchPassword));
      if (first.stdout.trim() !== 'bench') throw new Error(`login through ${endpoints[name].name} failed: ${first.stderr}`);
    }
    const verifier = (await pgServer.query<{ v: string }>(`SELECT rolpassword AS v FROM pg_authid WHERE rolname = 'bench'`)).rows[0]?.v ?? '';
    bouncer = await startPgBouncer({ pgPort: pgServer.port, database: 'app', user: 'bench', verifier, serverTls: SERVER_TLS });
    cleanup.push(() => bouncer!.stop());
    endpoints.pgbouncer.port = bouncer.port;

    const proxyClient = (user: string, password: string): pg.ClientConfig => ({ host: '127.0.0.1', port, user, password, database: 'app' });
    // (d) first, on the freshly started proxy (one login so far): what a developer's proxy holds.
    log(`(d) ${IDLE_CLIENTS} idle clients`);
    const baseline = await proxy.status(true);
    const clients: pg.Client[] = [];
    for (let i = 0; ONLY.has('d') && i < IDLE_CLIENTS; i += 50) {
      const batch = Array.from({ length: Math.min(50, IDLE_CLIENTS - i) }, async () => {
        const c = new pg.Client(proxyClient('bench', benchPassword));
        c.on('error', () => undefined);
        await c.connect();
        return c;
      });
      clients.push(...(await Promise.all(batch)));
    }
    await new Promise((r) => setTimeout(r, Number(process.env.BENCH_IDLE_WAIT_MS ?? 1000)));
    const loaded = await proxy.status(true);
    if (ONLY.has('d') && loaded.sessions < IDLE_CLIENTS) throw new Error(`only ${loaded.sessions} sessions are open`);
    const idleClients = {
      clients: IDLE_CLIENTS,
      baselineRssMb: round(baseline.rssBytes / 2 ** 20, 1),
      rssMb: round(loaded.rssBytes / 2 ** 20, 1),
      perClientKb: round((loaded.rssBytes - baseline.rssBytes) / 1024 / IDLE_CLIENTS, 1),
    };
    const mb = (b: number) => round(b / 2 ** 20, 1);
    log(`RSS ${idleClients.baselineRssMb} MB idle, ${idleClients.rssMb} MB with ${IDLE_CLIENTS} clients ` +
      `(V8 heap used ${mb(baseline.heapUsedBytes)} → ${mb(loaded.heapUsedBytes)} MB of ${mb(baseline.heapTotalBytes)} → ${mb(loaded.heapTotalBytes)} MB, external ${mb(baseline.externalBytes)} → ${mb(loaded.externalBytes)} MB)`);
    await Promise.all(clients.map((c) => c.end().catch(() => undefined)));
    await new Promise((r) => setTimeout(r, 2000));

    let idleCost: IdleCost[] | undefined;
    if (ONLY.has('h')) {
      log(`(h) ${IDLE_COST_CLIENTS} idle authenticated clients per proxy for ${IDLE_COST_SECONDS} s`);
      idleCost = await measureIdleCost([
        { name: 'rolecall', child: proxy, config: proxyClient('bench', benchPassword) },
        ...(shipped ? [{ name: 'shipped' as const, child: shipped, config: { ...proxyClient('bench', benchPassword), port: shippedPort } }] : []),
      ]);
      for (const c of idleCost) log(`${c.name} (Node ${c.node}): ${c.cpuMsPerMinute} ms CPU and ${c.wakeupsPerMinute} timer wake-ups per idle minute`);
    }

    log('warming up');
    for (const name of A_PATHS) {
      await pgbench(endpoints[name], 'bench', benchPassword, ['-c', '8', '-j', '2'], 2);
      await pgbench(endpoints[name], 'bench', benchPassword, ['-C', '-c', '4', '-j', '2'], 2);
    }

    const selectOnly: Record<PathName, number[]> = { direct: [], pgbouncer: [], rolecall: [], shipped: [] };
    const perConnect: Record<Name, number[]> = { direct: [], pgbouncer: [], rolecall: [] };
    const hopCpuUs: Record<'pgbouncer' | 'rolecall' | 'shipped', number[]> = { pgbouncer: [], rolecall: [], shipped: [] };
    let workBefore = await proxy.status();
    let workB = { upstreamOpened: 0, upstreamReused: 0, directoryCalls: 0, syncCalls: 0, pbkdf2Runs: 0 };
    for (let pass = 0; (ONLY.has('a') || ONLY.has('b')) && pass < ROUNDS; pass++) {
      // Rotate the order each round so no path always runs first (or last) on a busy machine.
      const order = NAMES.map((_, i) => NAMES[(i + pass) % NAMES.length] as Name);
      const orderA = A_PATHS.map((_, i) => A_PATHS[(i + pass) % A_PATHS.length] as PathName);
      for (const name of ONLY.has('a') ? orderA : []) {
        // CPU per transaction of the hop (PgBouncer or the proxy): a work measure steadier than TPS on shared cores.
        const hopCpu = async () =>
          name === 'rolecall' ? (await proxy!.status()).cpuMs : name === 'shipped' ? (await shipped!.status()).cpuMs : name === 'pgbouncer' ? bouncer!.cpuMs() : 0;
        const cpuBefore = await hopCpu();
        const tps = await pgbench(endpoints[name], 'bench', benchPassword, ['-c', '8', '-j', '2'], SECONDS);
        selectOnly[name].push(tps);
        if (name !== 'direct') hopCpuUs[name].push((((await hopCpu()) - cpuBefore) * 1000) / (tps * SECONDS));
        log(`round ${pass + 1} (a) select-only ${endpoints[name].name}: ${round(tps, 0)} TPS${name !== 'direct' ? ` (${round(hopCpuUs[name].at(-1) ?? 0, 1)} µs CPU per transaction)` : ''}`);
      }
      for (const name of ONLY.has('b') ? order : []) {
        if (name === 'rolecall') workBefore = await proxy.status();
        const tps = await pgbench(endpoints[name], 'bench', benchPassword, ['-C', '-c', '4', '-j', '2'], SECONDS);
        perConnect[name].push(tps);
        if (name === 'rolecall') {
          const after = await proxy.status();
          workB = {
            upstreamOpened: workB.upstreamOpened + (after.pool!.opened - workBefore.pool!.opened),
            upstreamReused: workB.upstreamReused + (after.pool!.reused - workBefore.pool!.reused),
            directoryCalls: workB.directoryCalls + (after.auth!.directoryCalls - workBefore.auth!.directoryCalls),
            syncCalls: workB.syncCalls + (after.auth!.syncCalls - workBefore.auth!.syncCalls),
            pbkdf2Runs: workB.pbkdf2Runs + (after.pbkdf2Runs - workBefore.pbkdf2Runs),
          };
        }
        log(`round ${pass + 1} (b) connect per transaction ${name}: ${round(tps, 0)} TPS`);
      }
    }

    // (g) one client's round trip: what a developer feels on each query. The load of a shared machine
    // swings between runs, so what a hop adds is taken within each round (path − direct), then the median over rounds.
    const latencyRounds: Record<PathName, { p50Us: number; p99Us: number; samples: number }[]> = { direct: [], pgbouncer: [], rolecall: [], shipped: [] };
    for (let pass = 0; ONLY.has('g') && pass < ROUNDS; pass++) {
      for (const name of A_PATHS.map((_, i) => A_PATHS[(i + pass) % A_PATHS.length] as PathName)) {
        const xs = await pgbenchLatencies(endpoints[name], 'bench', benchPassword, SECONDS);
        latencyRounds[name].push({ p50Us: median(xs), p99Us: percentile(xs, 99), samples: xs.length });
        log(`round ${pass + 1} (g) one client ${endpoints[name].name}: p50 ${round(median(xs), 0)} µs, p99 ${round(percentile(xs, 99), 0)} µs over ${xs.length}`);
      }
    }
    const latencyOf = (n: PathName) => {
      const rounds = latencyRounds[n];
      const direct = latencyRounds.direct;
      return {
        samples: rounds.reduce((t, r) => t + r.samples, 0),
        p50Us: round(median(rounds.map((r) => r.p50Us)), 0),
        p99Us: round(median(rounds.map((r) => r.p99Us)), 0),
        addedP50Us: round(median(rounds.map((r, i) => r.p50Us - (direct[i]?.p50Us ?? NaN))), 0),
        addedP99Us: round(median(rounds.map((r, i) => r.p99Us - (direct[i]?.p99Us ?? NaN))), 0),
      };
    };
    const latency: Latency | undefined = ONLY.has('g') ? (Object.fromEntries(A_PATHS.map((n) => [n, latencyOf(n)])) as Latency) : undefined;
    if (latency) {
      for (const n of A_PATHS.filter((x) => x !== 'direct')) {
        const l = latency[n]!;
        log(`(g) added by ${endpoints[n].name}, median over rounds: p50 ${l.addedP50Us} µs, p99 ${l.addedP99Us} µs`);
      }
    }

    log('(c) login latency');
    const cold: number[] = [];
    for (let i = 0; ONLY.has('c') && i < COLD_USERS; i++) cold.push(await connectTime(proxyClient(`cold${String(i).padStart(3, '0')}`, coldPassword)));
    const warm: number[] = [];
    for (let i = 0; i < 40; i++) warm.push(await connectTime(proxyClient('bench', benchPassword)));
    const direct: number[] = [];
    for (let i = 0; i < 40; i++) {
      direct.push(await connectTime({ host: '127.0.0.1', port: pgServer.port, user: 'bench', password: benchPassword, database: 'app', ...(SERVER_TLS ? { ssl: { rejectUnauthorized: false } } : {}) }));
    }
    log(`cold p50 ${round(median(cold), 1)} ms, p95 ${round(percentile(cold, 95), 1)} ms; warm p50 ${round(median(warm), 1)} ms; direct p50 ${round(median(direct), 1)} ms`);
    let directorySignIns: DirectorySignIns[] | undefined;
    if (ONLY.has('c')) {
      log('(c) the directory part of a cold sign-in: a new service connection each time (before issue #12) vs the pooled ones (after)');
      directorySignIns = await measureDirectorySignIns(ldap, Array.from({ length: COLD_USERS }, (_, i) => `cold${String(i).padStart(3, '0')}`), coldPassword);
      for (const r of directorySignIns) {
        log(`${r.transport}: fresh p50 ${r.freshP50Ms} ms, p95 ${r.freshP95Ms} ms; pooled p50 ${r.pooledP50Ms} ms, p95 ${r.pooledP95Ms} ms; ` +
          `per sign-in ${r.freshServiceBinds} → ${r.pooledServiceBinds} service binds, ${r.freshConnections} → ${r.pooledConnections} connections`);
      }
    }

    let brokerLogin: BrokerLogin | undefined;
    if (ONLY.has('f')) {
      log('(f) cold sign-in through the team broker');
      brokerLogin = await measureBrokerLogins(pgServer, ldap, 'heimdall-readonly', COLD_USERS, coldPassword, SERVER_TLS);
      log(`broker sign-in p50 ${brokerLogin.signInP50Ms} ms, p95 ${brokerLogin.signInP95Ms} ms; with the server login p50 ${brokerLogin.coldP50Ms} ms, p95 ${brokerLogin.coldP95Ms} ms`);
    }

    let brokerScale: BrokerScale | undefined;
    if (ONLY.has('i')) {
      log('(i) the broker at team scale: 1 replica, 3 behind HAProxy');
      const loadBeforeI = os.loadavg();
      brokerScale = await measureBrokerScale(pgServer, ldap, 'heimdall-readonly', SERVER_TLS, log);
      const loadAverage = `load average before/after: ${loadBeforeI.map((x) => x.toFixed(2)).join(' ')} / ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`;
      // Its own files, written by a BENCH_ONLY=i run too: the broker's numbers do not need the rest of the bench.
      const outDir = path.join(HERE, 'results');
      mkdirSync(outDir, { recursive: true });
      writeFileSync(path.join(outDir, 'broker-scale.json'), `${JSON.stringify({ startedAt: new Date(started).toISOString(), cpus: os.cpus().length, loadAverageBefore: loadBeforeI.map((x) => round(x, 2)), loadAverageAfter: os.loadavg().map((x) => round(x, 2)), ...brokerScale }, null, 2)}\n`);
      const md = `Measured ${new Date(started).toISOString()} on ${os.cpus().length} × ${os.cpus()[0]?.model.trim() ?? 'unknown'}, Node ${process.versions.node}; ${loadAverage}.\n\n${brokerScaleMarkdown(brokerScale)}\n`;
      writeFileSync(path.join(outDir, 'broker-scale.md'), md);
      process.stdout.write(`\n${md}\n`);
    }

    log('(e) COPY out');
    const copySql = `\\copy (select repeat('x', 1000) from generate_series(1, ${COPY_ROWS})) to '/dev/null'`;
    const copyMs: Record<Name, number[]> = { direct: [], pgbouncer: [], rolecall: [] };
    const copyProxyCpuMs: number[] = [];
    // One untimed COPY per path first: the first bulk transfer pays for buffer growth and JIT on every path.
    for (const name of ONLY.has('e') ? NAMES : []) await run('psql', ['-X', '-q', '-c', copySql], libpqEnv(endpoints[name], 'bench', benchPassword));
    for (let pass = 0; ONLY.has('e') && pass < ROUNDS; pass++) {
      for (const name of NAMES.map((_, i) => NAMES[(i + pass) % NAMES.length] as Name)) {
        const cpuBefore = name === 'rolecall' ? (await proxy.status()).cpuMs : 0;
        const r = await run('psql', ['-X', '-q', '-v', 'ON_ERROR_STOP=1', '-c', copySql], libpqEnv(endpoints[name], 'bench', benchPassword));
        if (r.code !== 0) throw new Error(`COPY through ${name} failed: ${r.stderr}`);
        copyMs[name].push(r.ms);
        if (name === 'rolecall') copyProxyCpuMs.push((await proxy.status()).cpuMs - cpuBefore);
        log(`round ${pass + 1} (e) COPY ${name}: ${round(r.ms, 0)} ms${name === 'rolecall' ? ` (proxy CPU ${round(copyProxyCpuMs.at(-1) ?? 0, 0)} ms)` : ''}`);
      }
    }
    const megabytes = (COPY_ROWS * 1001) / 1e6;
    const mbPerSecond = Object.fromEntries(NAMES.map((n) => [n, round(megabytes / (median(copyMs[n]) / 1000), 1)])) as Record<Name, number>;

    if (PARTIAL) {
      log(`load average before/after: ${loadBefore.map((x) => x.toFixed(2)).join(' ')} / ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`);
      log(`BENCH_ONLY=${[...ONLY].join(',')}: partial run, bench/results left unchanged`);
      return;
    }
    const med = (runs: Record<Name, number[]>) =>
      Object.fromEntries(NAMES.map((n) => [n, { runs: runs[n].map((x) => round(x, 1)), median: round(median(runs[n]), 1) }])) as Results['selectOnly'];
    const a = med(selectOnly);
    const b = med(perConnect);
    const login = {
      coldP50Ms: round(median(cold), 1),
      coldP95Ms: round(percentile(cold, 95), 1),
      coldSamples: cold.length,
      warmP50Ms: round(median(warm), 2),
      directP50Ms: round(median(direct), 2),
    };
    const ratio = (x: number, y: number) => round(x / y, 2);
    const targets: Target[] = [
      { id: 'a', what: '(a) select-only vs PgBouncer', target: '≥ 1.0×', measured: `${ratio(a.rolecall.median, a.pgbouncer.median)}×`, holds: a.rolecall.median >= a.pgbouncer.median },
      { id: 'b', what: '(b) connect per transaction vs PgBouncer', target: '≥ 1.0×', measured: `${ratio(b.rolecall.median, b.pgbouncer.median)}×`, holds: b.rolecall.median >= b.pgbouncer.median },
      { id: 'c', what: '(c) cold login p50', target: '≤ 30 ms', measured: `${login.coldP50Ms} ms`, holds: login.coldP50Ms <= 30 },
      { id: 'd', what: `(d) RSS with ${IDLE_CLIENTS} idle clients`, target: '≤ 150 MB', measured: `${idleClients.rssMb} MB`, holds: idleClients.rssMb <= 150 },
      { id: 'e', what: '(e) COPY out vs direct', target: '≥ 0.9×', measured: `${ratio(mbPerSecond.rolecall, mbPerSecond.direct)}×`, holds: mbPerSecond.rolecall >= 0.9 * mbPerSecond.direct },
      ...(shipped && shippedVersion
        ? [
            {
              id: 'a',
              what: `(a) select-only vs PgBouncer, proxy on Node ${shippedVersion} (Electron's)`,
              target: '≥ 1.0×',
              measured: `${ratio(median(selectOnly.shipped), a.pgbouncer.median)}×`,
              holds: median(selectOnly.shipped) >= a.pgbouncer.median,
            },
          ]
        : []),
      ...(latency
        ? [
            {
              id: 'g',
              what: '(g) added round-trip latency at one client, p50: Rolecall vs PgBouncer',
              target: '≤ PgBouncer',
              measured: `${latency.rolecall.addedP50Us} µs vs ${latency.pgbouncer.addedP50Us} µs`,
              holds: latency.rolecall.addedP50Us <= latency.pgbouncer.addedP50Us,
            },
          ]
        : []),
      ...(idleCost
        ? idleCost.map((c) => ({
            id: 'h',
            what: `(h) proxy CPU per idle minute, ${c.clients} idle clients, Node ${c.node}`,
            target: '< 50 ms',
            measured: `${c.cpuMsPerMinute} ms`,
            holds: c.cpuMsPerMinute < 50,
          }))
        : []),
      ...(brokerScale === undefined ? [] : brokerScaleTargets(brokerScale)),
    ];
    const cpus = os.cpus();
    const results: Results = {
      startedAt: new Date(started).toISOString(),
      durationSeconds: Math.round((Date.now() - started) / 1000),
      machine: {
        cpus: cpus.length,
        cpuModel: cpus[0]?.model.trim() ?? 'unknown',
        memoryGb: Math.round(os.totalmem() / 2 ** 30),
        loadAverageBefore: loadBefore.map((x) => round(x, 2)),
        loadAverageAfter: os.loadavg().map((x) => round(x, 2)),
        node: process.versions.node,
        postgres: `PostgreSQL ${(await pgServer.query<{ v: string }>(`select current_setting('server_version') as v`)).rows[0]?.v ?? '15'}`,
        pgbouncer: bouncer.version,
      },
      settings: {
        rounds: ROUNDS,
        secondsPerRun: SECONDS,
        note:
          (SERVER_TLS
            ? 'All three paths reach PostgreSQL over TLS (direct: sslmode=require; PgBouncer: server_tls_sslmode=require; Rolecall: verify-full). '
            : 'BENCH_SERVER_TLS=off: all three paths reach PostgreSQL in plaintext. ') +
          'Clients reach PgBouncer and Rolecall in plaintext on loopback. PgBouncer: session mode, SCRAM with an auth_file holding the role\'s verifier. ' +
          'Rolecall: pool.idleSeconds 30, maxIdlePerKey 4, reset DISCARD ALL; warm auth cache for (a), (b), (d), (e). ' +
          'pgbench, PostgreSQL, slapd, PgBouncer and the proxy share the same cores.',
      },
      selectOnly: a,
      ...(shipped && shippedVersion
        ? {
            shippedNode: {
              node: shippedVersion,
              selectOnly: { runs: selectOnly.shipped.map((x) => round(x, 1)), median: round(median(selectOnly.shipped), 1) },
              selectUsPerTransaction: round(median(hopCpuUs.shipped), 1),
            },
          }
        : {}),
      ...(latency ? { latency } : {}),
      ...(idleCost ? { idleCost } : {}),
      connectPerTransaction: b,
      login,
      ...(directorySignIns === undefined ? {} : { directorySignIns }),
      ...(brokerLogin === undefined ? {} : { brokerLogin }),
      ...(brokerScale === undefined ? {} : { brokerScale }),
      idleClients,
      copyOut: { megabytes: round(megabytes, 1), runsMs: Object.fromEntries(NAMES.map((n) => [n, copyMs[n].map((x) => round(x, 0))])) as Record<Name, number[]>, mbPerSecond },
      hopCpu: {
        selectUsPerTransaction: { pgbouncer: round(median(hopCpuUs.pgbouncer), 1), rolecall: round(median(hopCpuUs.rolecall), 1) },
        copyMsRolecall: round(median(copyProxyCpuMs), 0),
      },
      proxyWork: workB,
      targets,
    };
    const outDir = path.join(HERE, 'results');
    mkdirSync(outDir, { recursive: true });
    writeFileSync(path.join(outDir, 'latest.json'), `${JSON.stringify(results, null, 2)}\n`);
    const md = toMarkdown(results);
    writeFileSync(path.join(outDir, 'latest.md'), md);
    process.stdout.write(`\n${md}\n`);
  } finally {
    for (const f of cleanup.reverse()) await f().catch(() => undefined);
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`bench failed: ${e instanceof Error ? e.stack ?? e.message : String(e)}\n`);
    process.exit(1);
  },
);
