/**
 * `npm run bench`: Rolecall against a direct connection and PgBouncer, on
 * servers it starts itself (PostgreSQL 15, slapd, PgBouncer, the proxy in a
 * child process). Prints a table of medians and ratios and writes
 * bench/results/latest.json and latest.md. See bench/README.md.
 *
 * BENCH_ROUNDS (default 3) and BENCH_SECONDS (default 10) size the pgbench runs.
 */
import { execFileSync, fork, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, writeFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { build } from 'esbuild';
import pg from 'pg';
import { startPostgres, type PgServer } from '../test/harness/postgres.js';
import { startSlapd, type SlapdServer } from '../test/harness/slapd.js';
import { freePort, tempDir } from '../test/harness/ports.js';
import { installRolecall } from '../test/harness/rolecall-env.js';
import type { ProfileInput } from '../src-main/core/profiles/schema.js';
import { pgbench, PGBENCH, run, libpqEnv, type Endpoint } from './pgbench.js';
import { PGBOUNCER, startPgBouncer, type PgBouncer } from './pgbouncer.js';
import type { ChildReply, ChildRequest, ChildStatus } from './proxy-protocol.js';
import { brokerScaleMarkdown, brokerScaleTargets, toMarkdown, type Results, type Target } from './report.js';
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
/** BENCH_ONLY=a,e: run only these measures, print them, and leave the saved results alone (for quick experiments). */
const ONLY = new Set((process.env.BENCH_ONLY ?? 'a,b,c,d,e,f,g').split(',').map((x) => x.trim()));
const PARTIAL = !['a', 'b', 'c', 'd', 'e', 'f', 'g'].every((x) => ONLY.has(x));
const COLD_USERS = 40;
const IDLE_CLIENTS = 1000;
const COPY_ROWS = 100_000; // × ~1 KB per row ≈ 100 MB
const HERE = import.meta.dirname;
const NAMES = ['direct', 'pgbouncer', 'rolecall'] as const;
type Name = (typeof NAMES)[number];

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

class ProxyChild {
  private constructor(private readonly child: ChildProcess) {}

  /**
   * The proxy runs bundled by esbuild, as the desktop app ships the engine
   * (dist/main/main.cjs), not through the tsx loader, whose compiler and
   * module cache would be counted in the proxy's memory.
   */
  static async start(): Promise<ProxyChild> {
    // Inside node_modules so the bundle's package imports resolve as the source's do.
    const outfile = path.join(HERE, '..', 'node_modules', '.cache', 'rolecall-bench', 'proxy-child.mjs');
    await build({
      entryPoints: [path.join(HERE, 'proxy-child.ts')],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      banner: { js: "import { createRequire as __rolecallCreateRequire } from 'node:module'; const require = __rolecallCreateRequire(import.meta.url);" },
      logLevel: 'warning',
    });
    const child = fork(outfile, [], {
      // BENCH_PROXY_NODE_OPTIONS adds Node flags to the proxy only (e.g. --cpu-prof).
      execArgv: ['--expose-gc', ...(process.env.BENCH_PROXY_NODE_OPTIONS ?? '').split(' ').filter(Boolean)],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    process.once('exit', () => child.kill('SIGKILL'));
    return new ProxyChild(child);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  request<T extends ChildReply['type']>(message: ChildRequest, expect: T): Promise<Extract<ChildReply, { type: T }>> {
    return new Promise((resolve, reject) => {
      const onMessage = (raw: unknown) => {
        const reply = raw as ChildReply;
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
        if (reply.type === expect) resolve(reply as Extract<ChildReply, { type: T }>);
        else reject(new Error(reply.type === 'error' ? reply.message : `unexpected reply ${reply.type}`));
      };
      const onExit = (code: number | null) => reject(new Error(`the proxy process exited (code ${code}) before answering ${message.type}`));
      this.child.on('message', onMessage);
      this.child.once('exit', onExit);
      this.child.send(message);
    });
  }

  status(gc = false): Promise<ChildStatus> {
    return this.request({ type: 'status', gc }, 'status');
  }
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
  log(`starting PostgreSQL 15, slapd (load average ${loadBefore.map((x) => x.toFixed(2)).join(' ')})`);
  const cleanup: (() => Promise<void>)[] = [];
  let pgServer: PgServer | undefined;
  let ldap: SlapdServer | undefined;
  let bouncer: PgBouncer | undefined;
  let proxy: ProxyChild | undefined;
  try {
    [pgServer, ldap] = await Promise.all([startPostgres({ version: 15, settings: { max_connections: '1300', shared_buffers: '256MB' } }), startSlapd()]);
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
      database: { host: '127.0.0.1', port: pgServer.port, database: 'app', sslmode: SERVER_TLS ? PROXY_SSLMODE : 'disable', ...(PROXY_SSLMODE === 'require' ? {} : { caFile: pgServer.pki.caFile }), connectTimeoutMs: 10_000 },
      listen: { host: '127.0.0.1', port, maxClients: IDLE_CLIENTS + 100, authTimeoutMs: 30_000 },
      cache: { ttlSeconds: 3600, negativeTtlSeconds: 30, passwordValidForSeconds: 7200 },
      revalidate: { intervalSeconds: 0 },
      pool: { idleSeconds: 30, maxIdlePerKey: 4, resetQuery: 'DISCARD ALL' },
    };
    proxy = await ProxyChild.start();
    const child = proxy;
    cleanup.push(async () => {
      await child.request({ type: 'stop' }, 'stopped').catch(() => undefined);
    });
    await proxy.request({ type: 'start', profile, bindPassword: ldap.servicePassword, syncPassword, tlsDir }, 'started');

    const endpoints: Record<Name, Endpoint> = {
      direct: { name: 'direct', port: pgServer.port, sslmode: SERVER_TLS ? 'require' : 'disable' },
      pgbouncer: { name: 'pgbouncer', port: 0, sslmode: 'disable' },
      rolecall: { name: 'rolecall', port, sslmode: 'disable' },
    };
    // The first login through Rolecall creates the role and its SCRAM verifier; PgBouncer's auth_file copies it.
    const first = await run('psql', ['-X', '-At', '-c', 'select current_user'], libpqEnv(endpoints.rolecall, 'bench', benchPassword));
    if (first.stdout.trim() !== 'bench') throw new Error(`login through Rolecall failed: ${first.stderr}`);
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

    log('warming up');
    for (const name of NAMES) {
      await pgbench(endpoints[name], 'bench', benchPassword, ['-c', '8', '-j', '2'], 2);
      await pgbench(endpoints[name], 'bench', benchPassword, ['-C', '-c', '4', '-j', '2'], 2);
    }

    const selectOnly: Record<Name, number[]> = { direct: [], pgbouncer: [], rolecall: [] };
    const perConnect: Record<Name, number[]> = { direct: [], pgbouncer: [], rolecall: [] };
    const hopCpuUs: Record<'pgbouncer' | 'rolecall', number[]> = { pgbouncer: [], rolecall: [] };
    let workBefore = await proxy.status();
    let workB = { upstreamOpened: 0, upstreamReused: 0, directoryCalls: 0, syncCalls: 0, pbkdf2Runs: 0 };
    for (let pass = 0; (ONLY.has('a') || ONLY.has('b')) && pass < ROUNDS; pass++) {
      // Rotate the order each round so no path always runs first (or last) on a busy machine.
      const order = NAMES.map((_, i) => NAMES[(i + pass) % NAMES.length] as Name);
      for (const name of ONLY.has('a') ? order : []) {
        // CPU per transaction of the hop (PgBouncer or the proxy): a work measure steadier than TPS on shared cores.
        const hopCpu = async () => (name === 'rolecall' ? (await proxy!.status()).cpuMs : name === 'pgbouncer' ? bouncer!.cpuMs() : 0);
        const cpuBefore = await hopCpu();
        const tps = await pgbench(endpoints[name], 'bench', benchPassword, ['-c', '8', '-j', '2'], SECONDS);
        selectOnly[name].push(tps);
        if (name !== 'direct') hopCpuUs[name].push((((await hopCpu()) - cpuBefore) * 1000) / (tps * SECONDS));
        log(`round ${pass + 1} (a) select-only ${name}: ${round(tps, 0)} TPS${name !== 'direct' ? ` (${round(hopCpuUs[name].at(-1) ?? 0, 1)} µs CPU per transaction)` : ''}`);
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
    if (ONLY.has('g')) {
      log('(g) the broker at team scale: 1 replica, 3 behind HAProxy');
      const loadBeforeG = os.loadavg();
      brokerScale = await measureBrokerScale(pgServer, ldap, 'heimdall-readonly', SERVER_TLS, log);
      const loadAverage = `load average before/after: ${loadBeforeG.map((x) => x.toFixed(2)).join(' ')} / ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}`;
      // Its own files, written by a BENCH_ONLY=g run too: the broker's numbers do not need the rest of the bench.
      const outDir = path.join(HERE, 'results');
      mkdirSync(outDir, { recursive: true });
      writeFileSync(path.join(outDir, 'broker-scale.json'), `${JSON.stringify({ startedAt: new Date(started).toISOString(), cpus: os.cpus().length, loadAverageBefore: loadBeforeG.map((x) => round(x, 2)), loadAverageAfter: os.loadavg().map((x) => round(x, 2)), ...brokerScale }, null, 2)}\n`);
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
