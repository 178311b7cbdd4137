import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PATHS, type ErrorBody } from '../../src-main/core/broker-api/schema.js';
import type { BrokerConfigInput } from '../../src-main/broker/config.js';
import { BrokerClient } from '../../src-main/core/broker-client/broker-client.js';
import { BrokerFailure } from '../../src-main/core/broker-client/broker-failure.js';
import { brokerRequest, type BrokerProcess } from '../harness/broker.js';
import { startHaproxy, type HaproxyServer } from '../harness/haproxy.js';
import { waitFor } from '../harness/ports.js';
import { metricSum, scrape } from '../harness/prometheus.js';
import { startTeamEnv, USERS, type TeamEnv } from '../harness/team-env.js';

/*
 * Failover drills with real servers: three `rolecall broker` processes
 * sharing slapd and PostgreSQL 18, continuous sign-ins from several laptop
 * proxies (node-postgres through the laptop's broker profiles), and replicas
 * lost mid-load: SIGKILL (nothing drained, the lease not released) and
 * SIGTERM (drained, then started again on its port). Once behind HAProxy
 * (mode tcp, TLS end to end, /readyz health checks), once with the laptop's
 * own list of broker URLs. What must hold: no sign-in fails at a client,
 * every login's first sign-in leaves exactly one audit row (a retried
 * sign-in none), the sweep lease moves to a survivor by its next run, and a
 * wrong password holds the login on every replica through the kill.
 *
 * The load is bounded by counts (no timed assertion); the waits have
 * deadlines only so a broken drill fails instead of hanging.
 */

const GROUP = 'heimdall-drill';
const SWEEP_SECONDS = 1;
const passwordOf = (login: string) => `${login}-Pass-1`;
const usersA = Array.from({ length: 250 }, (_, i) => `da${String(i).padStart(3, '0')}`);
const usersB = Array.from({ length: 100 }, (_, i) => `db${String(i).padStart(3, '0')}`);
const MALLORY = 'mallory';

let env: TeamEnv;
let haproxy: HaproxyServer;
const replicas: BrokerProcess[] = [];
const startedAt = Date.now();

const drillConfig = (c: BrokerConfigInput): BrokerConfigInput => ({
  ...c,
  // Every database must be reachable for /readyz (team-env's "late" is not).
  databases: c.databases.filter((d) => d.id !== 'late'),
  listen: { ...c.listen, drainSeconds: 5, maxConnectionsPerAddress: 1000 },
  metrics: { host: '127.0.0.1', port: 0 },
  sweep: { intervalSeconds: SWEEP_SECONDS },
  throttle: { holdSeconds: 600 },
});

/**
 * The laptop proxies never reuse a database password (every connection is a
 * sign-in at the broker) and keep no idle server connection (hundreds of
 * logins would hold PostgreSQL's connection slots).
 */
const laptopSettings = {
  cache: { marginSeconds: 3600, negativeTtlSeconds: 0 },
  pool: { idleSeconds: 0, maxIdlePerKey: 0, resetQuery: 'DISCARD ALL' },
};

beforeAll(async () => {
  env = await startTeamEnv({ brokerConfig: drillConfig });
  const dns: string[] = [];
  for (const u of [...usersA, ...usersB, MALLORY]) dns.push(await env.ldap.addUser(u, passwordOf(u)));
  await env.ldap.addGroup(GROUP, dns);
  const admin = await env.pg18.connect({ database: 'app' });
  try {
    await admin.query(`CREATE ROLE "${GROUP}" NOLOGIN`);
    await admin.query('SELECT rolecall.allow_group($1, $2)', [GROUP, GROUP]);
  } finally {
    await admin.end();
  }
  replicas.push(env.broker, await env.startBroker('r2'), await env.startBroker('r3'));
  haproxy = await startHaproxy(env.dir, env.pki.caFile, replicas.map((r, i) => ({ name: `r${i + 1}`, port: r.port })));
  await haproxy.waitUp(['r1', 'r2', 'r3']);
}, 180_000);

afterAll(async () => {
  await haproxy?.stop();
  await env?.stop();
});

/** Continuous sign-ins through laptop proxies: every third one a login's first, the others a login already signed in. */
interface Load {
  done(): number;
  ok: Map<string, number>;
  failures: string[];
  /** Resolves once this many more sign-ins have finished (or fails if the load ended first). */
  more(n: number): Promise<void>;
  stop(): Promise<void>;
}

function startLoad(ports: number[], fresh: string[], workers: number, max: number): Load {
  const ok = new Map<string, number>();
  const failures: string[] = [];
  const signedIn: string[] = [];
  let next = 0;
  let finished = 0;
  let stopped = false;
  let iteration = 0;
  const pick = (): string => {
    const i = iteration++;
    if ((i % 3 === 0 || signedIn.length === 0) && next < fresh.length) return fresh[next++]!;
    return signedIn[i % signedIn.length] ?? fresh[0]!;
  };
  const worker = async (w: number) => {
    while (!stopped && finished < max) {
      const login = pick();
      const port = ports[w % ports.length]!;
      try {
        const c = await env.connect(port, login, passwordOf(login));
        try {
          const r = await c.query<{ u: string }>('SELECT current_user AS u');
          if (r.rows[0]?.u !== login) throw new Error(`connected as ${r.rows[0]?.u}, not ${login}`);
        } finally {
          await c.end();
        }
        ok.set(login, (ok.get(login) ?? 0) + 1);
        if (!signedIn.includes(login)) signedIn.push(login);
      } catch (e) {
        failures.push(`${login} on :${port}: ${(e as Error).message}`);
      }
      finished++;
    }
  };
  const running = Promise.all(Array.from({ length: workers }, (_, w) => worker(w)));
  return {
    done: () => finished,
    ok,
    failures,
    async more(n) {
      const target = finished + n;
      await waitFor(`${n} more sign-ins (${finished} so far)`, async () => {
        if (finished >= target) return true;
        if (stopped || finished >= max) throw new Error(`the load ended at ${finished} sign-ins`);
        return undefined;
      }, 90_000, 20);
    },
    async stop() {
      stopped = true;
      await running;
    },
  };
}

/** A query as the admin in the database "app" of PostgreSQL 18 (where Rolecall is installed). */
async function appQuery<R extends Record<string, unknown>>(sql: string, params: unknown[] = []): Promise<R[]> {
  const c = await env.pg18.connect({ database: 'app' });
  try {
    return (await c.query<R>(sql, params)).rows;
  } finally {
    await c.end();
  }
}

async function leaseHolder(): Promise<string | null> {
  const rows = await appQuery<{ holder: string }>("SELECT holder FROM rolecall.lease WHERE name = 'sweep'");
  return rows[0]?.holder ?? null;
}

/** This replica's app18 sweep runs that found the lease held by another. */
async function notHolderRuns(r: BrokerProcess): Promise<number> {
  return metricSum((await scrape(r.metricsUrl!)).samples, 'rolecall_broker_sweep_runs_total', { database: 'app18', result: 'not-holder' });
}

async function signInsServed(r: BrokerProcess): Promise<number> {
  return metricSum((await scrape(r.metricsUrl!)).samples, 'rolecall_broker_sign_ins_total', { outcome: 'ok' });
}

/**
 * Waits for the lease to pass to one of `survivors`, and checks it took at
 * most one sweep run of the taker that still saw it held (the run in
 * progress when the holder went): the lease moves within one interval.
 */
async function leaseMovesTo(survivors: BrokerProcess[], before: Map<BrokerProcess, number>): Promise<BrokerProcess> {
  const names = survivors.map((s) => s.replica);
  const holder = await waitFor('the sweep lease to pass to a survivor', async () => {
    const h = await leaseHolder();
    return h !== null && names.includes(h) ? h : undefined;
  }, 30_000, 50);
  const taker = survivors.find((s) => s.replica === holder)!;
  expect((await notHolderRuns(taker)) - before.get(taker)!).toBeLessThanOrEqual(1);
  return taker;
}

async function notHolderBaseline(rs: BrokerProcess[]): Promise<Map<BrokerProcess, number>> {
  return new Map(await Promise.all(rs.map(async (r) => [r, await notHolderRuns(r)] as const)));
}

const signIn = (url: string, login: string, password: string) =>
  brokerRequest<ErrorBody>(url, env.pki.caFile, PATHS.signIn, { body: { login, password, database: 'app18' } });

/** A sign-in as the laptop sends it (its broker client, through HAProxy, on a new connection): 200, or the refusal's status and body. */
async function laptopSignIn(login: string, password: string): Promise<{ status: number; body: ErrorBody }> {
  const client = new BrokerClient({ urls: [haproxy.url], caFile: env.pki.caFile, connectTimeoutMs: 1000, timeoutMs: 10_000, deadUrlSeconds: 60 });
  try {
    await client.signIn({ login, password, database: 'app18' });
    return { status: 200, body: { error: { sqlstate: '00000', message: 'signed in' } } };
  } catch (e) {
    if (!(e instanceof BrokerFailure) || e.details.error === undefined) throw e;
    return { status: e.details.status ?? 0, body: { error: e.details.error } };
  } finally {
    client.close();
  }
}

/** Sign-ins retried by the laptop: a broken connection sent again, a URL given up for the next. */
function laptopRetries(): { resent: number; nextUrl: number } {
  const log = env.laptopLog();
  return {
    resent: log.split('sending the request once more').length - 1,
    nextUrl: log.split('the broker gave no usable answer').length - 1,
  };
}

const report: Record<string, unknown> = {};
/** Every login a client signed in with, in either drill. */
const signedIn = new Set<string>();

describe('failover drills', () => {
  it('behind HAProxy: SIGKILL of the lease holder and SIGTERM of the next cost no sign-in; the lease moves; the throttle holds across replicas', async () => {
    const profiles = await Promise.all(
      [1, 2, 3].map((i) =>
        env.startProfile(`via-haproxy-${i}`, 'app18', (p) => ({
          ...p,
          broker: { ...p.broker, urls: [haproxy.url] },
          ...laptopSettings,
        })),
      ),
    );
    const load = startLoad(profiles.map((p) => p.listen.port), usersA, 6, 5000);
    try {
      await load.more(30);
      const holder = await waitFor('a replica to hold the sweep lease', async () => (await leaseHolder()) ?? undefined, 30_000, 50);
      const killed = replicas.find((r) => r.replica === holder)!;
      const others = replicas.filter((r) => r !== killed);
      expect(killed).toBeDefined();

      // A wrong password for mallory, once, then her attempts everywhere while the holder dies.
      const failedBinds = () => env.ldap.readValues(env.ldap.userDn(MALLORY), 'pwdFailureTime').then((v) => v.length);
      const first = await signIn(killed.url, MALLORY, 'not-her-password');
      expect(first.status).toBe(401);
      expect(first.body.error.sqlstate).toBe('28P01');
      const bindsAfterFirst = await failedBinds();
      expect(bindsAfterFirst).toBe(1);

      // The replica about to die has been taking part in the load.
      report.killedServedBeforeKill = await signInsServed(killed);
      expect(report.killedServedBeforeKill).toBeGreaterThan(0);
      const baseline = await notHolderBaseline(others);
      const [, ...attempts] = await Promise.all([
        killed.kill(),
        ...[0, 1, 2, 3].map((i) => laptopSignIn(MALLORY, i === 0 ? passwordOf(MALLORY) : `guess-${i}`)),
        ...others.map((r) => signIn(r.url, MALLORY, passwordOf(MALLORY))),
        ...others.map((r) => signIn(r.url, MALLORY, 'guess-direct')),
      ]);
      for (const a of attempts as { status: number; body: ErrorBody }[]) {
        expect(a.status).toBe(401);
        expect(a.body.error).toMatchObject({ sqlstate: '28P01', retryAfterSeconds: expect.any(Number) });
      }
      await load.more(40);
      const taker = await leaseMovesTo(others, baseline);
      await haproxy.waitUp(others.map((r) => `r${replicas.indexOf(r) + 1}`));

      // SIGTERM the new holder: it drains (exit 0), gives the lease up, the last one takes it.
      const last = others.find((r) => r !== taker)!;
      await load.more(20);
      expect(await taker.stop()).toBe(0);
      expect(taker.stderr()).toContain('sweep lease released');
      // Counted from the release: the last replica's run in progress may still have seen it held, its next takes it.
      const baseline2 = await notHolderBaseline([last]);
      await load.more(40);
      await leaseMovesTo([last], baseline2);

      // Started again on its port: HAProxy counts it up again and sends it sign-ins.
      const takerName = `r${replicas.indexOf(taker) + 1}`;
      const again = await env.startBroker(`${takerName}-again`, (c) => ({ ...drillConfig(c), listen: { ...drillConfig(c).listen, port: taker.port } }));
      replicas[replicas.indexOf(taker)] = again;
      await haproxy.waitUp([takerName, `r${replicas.indexOf(last) + 1}`]);
      await load.more(60);
      // The load's kept connections stay with the replica they were opened to (mode tcp cannot move them);
      // new connections are balanced again, so the restarted replica gets some of these.
      const servedBefore = await signInsServed(again);
      for (let i = 0; i < 6; i++) expect((await laptopSignIn('alice', USERS.alice)).status).toBe(200);
      report.haproxyRestartedServed = await signInsServed(again);
      expect(report.haproxyRestartedServed).toBeGreaterThan(servedBefore);
      expect(await failedBinds()).toBe(bindsAfterFirst);
    } finally {
      await load.stop();
      await Promise.all(profiles.map((p) => env.laptop.stop(p.id, 200)));
    }
    for (const login of load.ok.keys()) signedIn.add(login);
    if (load.failures.length > 0) console.log(env.laptopLog().split('\n').filter((l) => /once more|no usable|did not sign/.test(l)).join('\n'));
    report.haproxy = { signIns: load.done(), failures: load.failures.length, logins: load.ok.size, ...laptopRetries() };
    expect(load.failures).toEqual([]);
    expect(load.done()).toBeGreaterThanOrEqual(190);
  }, 240_000);

  it('with the laptop\'s list of URLs: killing the first URL\'s broker costs no sign-in', async () => {
    const dead = replicas.find((r) => r.exited)!;
    const name = `r${replicas.indexOf(dead) + 1}`;
    const first = await env.startBroker(`${name}-again`, (c) => ({ ...drillConfig(c), listen: { ...drillConfig(c).listen, port: dead.port } }));
    replicas[replicas.indexOf(dead)] = first;
    const urls = [first.url, ...replicas.filter((r) => r !== first).map((r) => r.url)];
    const before = laptopRetries();
    const profiles = await Promise.all(
      [1, 2].map((i) =>
        env.startProfile(`url-list-${i}`, 'app18', (p) => ({ ...p, broker: { ...p.broker, urls }, ...laptopSettings })),
      ),
    );
    const load = startLoad(profiles.map((p) => p.listen.port), usersB, 4, 3000);
    try {
      await load.more(40);
      report.firstUrlServedBeforeKill = await signInsServed(first);
      expect(report.firstUrlServedBeforeKill).toBeGreaterThan(0);
      await first.kill();
      await load.more(80);
    } finally {
      await load.stop();
      await Promise.all(profiles.map((p) => env.laptop.stop(p.id, 200)));
    }
    for (const login of load.ok.keys()) signedIn.add(login);
    const after = laptopRetries();
    report.urlList = { signIns: load.done(), failures: load.failures.length, logins: load.ok.size, resent: after.resent - before.resent, nextUrl: after.nextUrl - before.nextUrl };
    expect(load.failures).toEqual([]);
    // The laptop did move on from the dead first URL.
    expect(after.nextUrl - before.nextUrl).toBeGreaterThan(0);
  }, 180_000);

  it('left exactly one audit row per login\'s first sign-in: none lost, none doubled by a retry', async () => {
    const rows = await appQuery<{ login: string; outcome: string; n: string }>(
      "SELECT login, outcome, count(*) AS n FROM rolecall.audit WHERE action = 'sync' AND (login LIKE 'da%' OR login LIKE 'db%' OR login = $1) GROUP BY login, outcome",
      [MALLORY],
    );
    const created = new Map<string, number>();
    const other: string[] = [];
    let updated = 0;
    for (const r of rows) {
      if (r.outcome === 'created') created.set(r.login, Number(r.n));
      else if (r.outcome === 'updated') updated += Number(r.n);
      else other.push(`${r.login}: ${r.outcome}`);
    }
    // A login's first sign-in creates it; later ones in the same window (here: an hour) write nothing.
    expect(other).toEqual([]);
    expect(signedIn.size).toBeGreaterThan(100);
    expect([...created.keys()].sort()).toEqual([...signedIn].sort());
    expect([...created.entries()].filter(([, n]) => n !== 1)).toEqual([]);
    expect(created.has(MALLORY)).toBe(false);
    const crossedAnHour = Math.floor(startedAt / 3_600_000) !== Math.floor(Date.now() / 3_600_000);
    if (!crossedAnHour) expect(updated).toBe(0);
    else expect(updated).toBeLessThanOrEqual(created.size);
    report.auditRowsCreated = created.size;
    console.log(`failover drill: ${JSON.stringify(report)}`);
  });
});
