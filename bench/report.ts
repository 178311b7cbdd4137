import { PACED_RATE, type BrokerScale, type ScalePhase } from './broker-scale.js';
import type { DirectorySignIns } from './directory-bench.js';
import { round } from './stats.js';

export interface Target {
  id: string;
  what: string;
  target: string;
  measured: string;
  holds: boolean;
}

/** (h) one proxy process with idle authenticated clients. */
export interface IdleCost {
  name: string;
  node: string;
  clients: number;
  seconds: number;
  cpuMsPerMinute: number;
  wakeupsPerMinute: number;
}

/**
 * (g) pgbench -S -c 1 per-transaction latencies, per path ('shipped': the proxy on Electron's Node):
 * medians over rounds of each round's p50 and p99, and of what the path added to direct's in that round.
 */
export interface PathLatency {
  samples: number;
  p50Us: number;
  p99Us: number;
  addedP50Us: number;
  addedP99Us: number;
}
export type Latency = Record<'direct' | 'pgbouncer' | 'rolecall', PathLatency> & Partial<Record<'shipped', PathLatency>>;

export interface Results {
  startedAt: string;
  durationSeconds: number;
  machine: { cpus: number; cpuModel: string; memoryGb: number; loadAverageBefore: number[]; loadAverageAfter: number[]; node: string; postgres: string; pgbouncer: string };
  settings: { rounds: number; secondsPerRun: number; note: string };
  selectOnly: Record<'direct' | 'pgbouncer' | 'rolecall', { runs: number[]; median: number }>;
  /** (a) again with a second proxy on the Node that Electron embeds, in the same rounds. */
  shippedNode?: { node: string; selectOnly: { runs: number[]; median: number }; selectUsPerTransaction: number };
  latency?: Latency;
  idleCost?: IdleCost[];
  connectPerTransaction: Record<'direct' | 'pgbouncer' | 'rolecall', { runs: number[]; median: number }>;
  login: { coldP50Ms: number; coldP95Ms: number; coldSamples: number; warmP50Ms: number; directP50Ms: number };
  /** (c) the directory's part of a cold sign-in, a new service connection per sign-in vs the pooled ones, per transport. */
  directorySignIns?: DirectorySignIns[];
  /** (f) team mode: cold sign-in through the broker, then the server login with its password. */
  brokerLogin?: { samples: number; signInP50Ms: number; signInP95Ms: number; coldP50Ms: number; coldP95Ms: number };
  /** (i) the broker at team scale: 1 and 3 replicas, cold and warm sign-ins per second. */
  brokerScale?: BrokerScale;
  idleClients: { clients: number; baselineRssMb: number; rssMb: number; perClientKb: number };
  copyOut: { megabytes: number; runsMs: Record<'direct' | 'pgbouncer' | 'rolecall', number[]>; mbPerSecond: Record<'direct' | 'pgbouncer' | 'rolecall', number> };
  /** CPU the hop itself used: per (a) transaction (PgBouncer and the proxy), per (e) COPY (the proxy). */
  hopCpu: { selectUsPerTransaction: Record<'pgbouncer' | 'rolecall', number>; copyMsRolecall: number };
  proxyWork: { upstreamOpened: number; upstreamReused: number; directoryCalls: number; syncCalls: number; pbkdf2Runs: number };
  targets: Target[];
}

const fmt = (n: number, d = 0) => round(n, d).toLocaleString('en-US', { maximumFractionDigits: d, minimumFractionDigits: d });

export function toMarkdown(r: Results): string {
  const a = r.selectOnly;
  const b = r.connectPerTransaction;
  const c = r.copyOut.mbPerSecond;
  const lines = [
    `Measured ${r.startedAt} on ${r.machine.cpus} × ${r.machine.cpuModel}, ${r.machine.memoryGb} GB, Node ${r.machine.node}, ${r.machine.postgres}, ${r.machine.pgbouncer};`,
    `load average before/after: ${r.machine.loadAverageBefore.map((x) => x.toFixed(2)).join(' ')} / ${r.machine.loadAverageAfter.map((x) => x.toFixed(2)).join(' ')}.`,
    `${r.settings.rounds} alternating rounds × ${r.settings.secondsPerRun} s per pgbench run; medians. ${r.settings.note}`,
    '',
    '| Measure | direct | PgBouncer | Rolecall | Rolecall ÷ PgBouncer | Rolecall ÷ direct |',
    '|---|---:|---:|---:|---:|---:|',
    `| (a) select-only, 8 persistent clients (\`pgbench -S -c 8 -j 2\`), TPS | ${fmt(a.direct.median)} | ${fmt(a.pgbouncer.median)} | ${fmt(a.rolecall.median)} | ${fmt(a.rolecall.median / a.pgbouncer.median, 2)}× | ${fmt(a.rolecall.median / a.direct.median, 2)}× |`,
    `| (b) connect per transaction (\`pgbench -S -C -c 4 -j 2\`), TPS | ${fmt(b.direct.median)} | ${fmt(b.pgbouncer.median)} | ${fmt(b.rolecall.median)} | ${fmt(b.rolecall.median / b.pgbouncer.median, 2)}× | ${fmt(b.rolecall.median / b.direct.median, 2)}× |`,
    `| (e) COPY ${fmt(r.copyOut.megabytes)} MB out (psql \`\\copy … to /dev/null\`), MB/s | ${fmt(c.direct)} | ${fmt(c.pgbouncer)} | ${fmt(c.rolecall)} | ${fmt(c.rolecall / c.pgbouncer, 2)}× | ${fmt(c.rolecall / c.direct, 2)}× |`,
    '',
    ...nodeTable(r),
    '| Measure | Rolecall |',
    '|---|---:|',
    `| (c) cold login (directory bind + groups + sync + server login), p50 / p95 over ${r.login.coldSamples} new users | ${fmt(r.login.coldP50Ms, 1)} ms / ${fmt(r.login.coldP95Ms, 1)} ms |`,
    ...(r.directorySignIns ?? []).map(
      (d) =>
        `| (c) of which the directory (search, bind, groups) over ${d.transport}://, p50 / p95: a new service connection per sign-in (before #12) → pooled (now); service binds per sign-in | ${fmt(d.freshP50Ms, 1)} ms / ${fmt(d.freshP95Ms, 1)} ms → ${fmt(d.pooledP50Ms, 1)} ms / ${fmt(d.pooledP95Ms, 1)} ms; ${fmt(d.freshServiceBinds, 2)} → ${fmt(d.pooledServiceBinds, 2)} |`,
    ),
    ...(r.brokerLogin === undefined
      ? []
      : [
          `| (f) cold login in team mode: broker sign-in (HTTPS, directory bind + groups + sync) + server login, p50 / p95 over ${r.brokerLogin.samples} new users | ${fmt(r.brokerLogin.coldP50Ms, 1)} ms / ${fmt(r.brokerLogin.coldP95Ms, 1)} ms |`,
          `| (f) of which the broker's sign-in request alone, p50 / p95 | ${fmt(r.brokerLogin.signInP50Ms, 1)} ms / ${fmt(r.brokerLogin.signInP95Ms, 1)} ms |`,
        ]),
    `| warm login through Rolecall (cache hit, pooled server connection), p50 | ${fmt(r.login.warmP50Ms, 1)} ms |`,
    `| direct login to PostgreSQL (TLS + SCRAM), p50 | ${fmt(r.login.directP50Ms, 1)} ms |`,
    `| (d) proxy RSS with ${fmt(r.idleClients.clients)} idle authenticated clients (idle: ${fmt(r.idleClients.baselineRssMb)} MB) | ${fmt(r.idleClients.rssMb)} MB (${fmt(r.idleClients.perClientKb)} KB per client) |`,
    `| CPU per (a) transaction: PgBouncer / Rolecall proxy | ${fmt(r.hopCpu.selectUsPerTransaction.pgbouncer, 1)} µs / ${fmt(r.hopCpu.selectUsPerTransaction.rolecall, 1)} µs |`,
    `| proxy CPU per (e) COPY of ${fmt(r.copyOut.megabytes)} MB | ${fmt(r.hopCpu.copyMsRolecall)} ms |`,
    `| work during (b): server connections opened / reused; directory calls; syncs; PBKDF2 runs | ${fmt(r.proxyWork.upstreamOpened)} / ${fmt(r.proxyWork.upstreamReused)}; ${r.proxyWork.directoryCalls}; ${r.proxyWork.syncCalls}; ${r.proxyWork.pbkdf2Runs} |`,
    '',
    ...(r.brokerScale === undefined ? [] : [brokerScaleMarkdown(r.brokerScale), '']),
    '| Target | Wanted | Measured | Holds |',
    '|---|---|---|---|',
    ...r.targets.map((t) => `| ${t.what} | ${t.target} | ${t.measured} | ${t.holds ? 'yes' : '**no**'} |`),
    '',
  ];
  return lines.join('\n');
}

/** Both Node versions side by side: (a), (g) and (h) ran on both proxies in the same rounds. */
function nodeTable(r: Results): string[] {
  const a = r.selectOnly;
  const shipped = r.shippedNode;
  const l = r.latency;
  const idle = (name: string) => r.idleCost?.find((c) => c.name === name);
  const cols: { head: string; tps?: number; cpu?: number; lat?: PathLatency; idle?: IdleCost }[] = [
    { head: 'PgBouncer', tps: a.pgbouncer.median, cpu: r.hopCpu.selectUsPerTransaction.pgbouncer, ...(l ? { lat: l.pgbouncer } : {}) },
    { head: `Rolecall, Node ${r.machine.node}`, tps: a.rolecall.median, cpu: r.hopCpu.selectUsPerTransaction.rolecall, ...(l ? { lat: l.rolecall } : {}), ...(idle('rolecall') ? { idle: idle('rolecall') } : {}) },
  ];
  if (shipped) {
    cols.push({ head: `Rolecall, Node ${shipped.node} (Electron 45)`, tps: shipped.selectOnly.median, cpu: shipped.selectUsPerTransaction, ...(l?.shipped ? { lat: l.shipped } : {}), ...(idle('shipped') ? { idle: idle('shipped') } : {}) });
  }
  const cell = (x: number | undefined, f: (n: number) => string) => (x === undefined || Number.isNaN(x) ? '–' : f(x));
  const row = (what: string, f: (c: (typeof cols)[number]) => string) => `| ${what} | ${cols.map(f).join(' | ')} |`;
  const lines = [
    `| Measure (direct: ${fmt(a.direct.median)} TPS${l ? `, one client p50 ${fmt(l.direct.p50Us)} µs / p99 ${fmt(l.direct.p99Us)} µs` : ''}) | ${cols.map((c) => c.head).join(' | ')} |`,
    `|---|${cols.map(() => '---:').join('|')}|`,
    row('(a) select-only, 8 persistent clients, TPS', (c) => cell(c.tps, (n) => fmt(n))),
    row('(a) ÷ PgBouncer', (c) => cell(c.tps, (n) => `${fmt(n / a.pgbouncer.median, 2)}×`)),
    row('(a) CPU of the hop per transaction', (c) => cell(c.cpu, (n) => `${fmt(n, 1)} µs`)),
  ];
  if (l) {
    lines.push(
      row('(g) one client (`pgbench -S -c 1`): added round trip p50 / p99 vs direct (median over rounds)', (c) =>
        c.lat ? `${fmt(c.lat.addedP50Us)} µs / ${fmt(c.lat.addedP99Us)} µs` : '–',
      ),
    );
  }
  if (r.idleCost) {
    lines.push(
      row(`(h) CPU per idle minute, ${r.idleCost[0]?.clients ?? 10} idle authenticated clients`, (c) => (c.idle ? `${fmt(c.idle.cpuMsPerMinute, 1)} ms` : '–')),
      row('(h) timer wake-ups per idle minute', (c) => (c.idle ? fmt(c.idle.wakeupsPerMinute, 1) : '–')),
    );
  }
  return [...lines, ''];
}

/** The goals of (i), as the issue states them. */
export function brokerScaleTargets(s: BrokerScale): Target[] {
  return [
    { id: 'i', what: '(i) one broker replica, warm sign-ins per second', target: '≥ 200/s', measured: `${s.one.warm.perSecond}/s`, holds: s.one.warm.perSecond >= 200 },
    { id: 'i', what: `(i) one broker replica, warm sign-in p99 at ${PACED_RATE}/s offered`, target: '≤ 50 ms', measured: `${s.one.paced.p99Ms} ms`, holds: s.one.paced.p99Ms <= 50 },
    { id: 'i', what: '(i) three replicas behind HAProxy vs one, warm sign-ins per second', target: '≥ 1.0×', measured: `${s.warmRatio}×`, holds: s.warmRatio >= 1 },
  ];
}

const phaseRow = (p: ScalePhase, which: 'cold' | 'warm' | 'paced') =>
  `| ${p.replicas}${p.via === 'haproxy' ? ' (HAProxy, TCP)' : ''} | ${which === 'paced' ? `warm, ${PACED_RATE}/s offered` : `${which}, as fast as it goes`} | ${fmt(p[which].perSecond)} | ${fmt(p[which].p50Ms, 1)} | ${fmt(p[which].p99Ms, 1)} | ${which === 'warm' ? [p.cpuMsPerWarmSignIn, p.otherCpuMsPerWarmSignIn.slapd, p.otherCpuMsPerWarmSignIn.postgres, p.otherCpuMsPerWarmSignIn.haproxy, p.otherCpuMsPerWarmSignIn.load].map((x) => fmt(x, 2)).join(' / ') : ''} | ${which === 'warm' ? p.rssMb.map((x) => fmt(x)).join(' / ') : ''} |`;

/** (i)'s table: medians over the rounds per replica count, then its targets. */
export function brokerScaleMarkdown(s: BrokerScale): string {
  return [
    `(i) the broker at team scale: ${s.concurrency} laptop proxies (each a keep-alive HTTPS connection) signing in back to back, ${s.users} directory users; ` +
      `cold = each user's first sign-in in a new window (directory + sync), warm = the same users again for ${s.warmSeconds} s after 2 s untimed (directory every time, sync unchanged), ` +
      `both closed loop (each proxy signs in again as soon as it is answered: the rate it reaches, with latency that is mostly queueing); ` +
      `then warm sign-ins offered at ${PACED_RATE}/s for ${s.warmSeconds} s (open loop, latency from when each was due); ` +
      `${s.rounds} alternating rounds, the median round per replica count. Brokers, HAProxy, PostgreSQL, slapd and the load share the same cores.`,
    '',
    '| Replicas | Sign-in | per second | p50 ms | p99 ms | CPU ms per sign-in: broker / slapd / PostgreSQL / HAProxy / load | RSS MB per replica |',
    '|---|---|---:|---:|---:|---:|---:|',
    phaseRow(s.one, 'cold'),
    phaseRow(s.one, 'warm'),
    phaseRow(s.one, 'paced'),
    phaseRow(s.three, 'cold'),
    phaseRow(s.three, 'warm'),
    phaseRow(s.three, 'paced'),
    '',
    '| Target | Wanted | Measured | Holds |',
    '|---|---|---|---|',
    ...brokerScaleTargets(s).map((t) => `| ${t.what} | ${t.target} | ${t.measured} | ${t.holds ? 'yes' : '**no**'} |`),
  ].join('\n');
}
