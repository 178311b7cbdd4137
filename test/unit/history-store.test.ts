import { existsSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { afterEach, describe, expect, expectTypeOf, it } from 'vitest';
import {
  buildHistoryQuery,
  defaultHistoryPath,
  HistoryStore,
  toCsv,
  type ConnectionRecord,
} from '../../src-main/core/history/index.js';
import { tempDir } from '../harness/ports.js';

const T0 = Date.UTC(2026, 0, 1);
const MIN = 60_000;

function record(over: Partial<ConnectionRecord> = {}): ConnectionRecord {
  return {
    startedAt: T0,
    endedAt: null,
    profileId: 'hr-prod',
    login: 'alice',
    canonicalLogin: 'alice',
    database: 'app',
    applicationName: 'psql',
    clientAddress: '127.0.0.1',
    outcome: 'success',
    sqlstate: null,
    message: null,
    groups: ['pg-developers'],
    cacheHit: false,
    authLatencyMs: 42,
    bytesFromClient: 0,
    bytesToClient: 0,
    ...over,
  };
}

const dirs: string[] = [];
const stores: HistoryStore[] = [];
function open(file: string | ':memory:' = ':memory:'): HistoryStore {
  const s = new HistoryStore(file);
  stores.push(s);
  return s;
}
function dir(): string {
  const d = tempDir('history');
  dirs.push(d);
  return d;
}
afterEach(() => {
  for (const s of stores.splice(0)) {
    try {
      s.close();
    } catch {
      // already closed by the test
    }
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

describe('HistoryStore', () => {
  it('stores a row at auth time and completes it at close', () => {
    const h = open();
    const id = h.insert(record({ login: 'CORP\\Alice', canonicalLogin: 'alice', cacheHit: true }));
    h.update(id, { endedAt: T0 + 5000, bytesFromClient: 1200, bytesToClient: 98_000 });
    expect(h.query({}).rows).toEqual([
      {
        ...record({ login: 'CORP\\Alice', canonicalLogin: 'alice', cacheHit: true }),
        id,
        endedAt: T0 + 5000,
        bytesFromClient: 1200,
        bytesToClient: 98_000,
      },
    ]);
    // A row that vanished (history cleared meanwhile) is not an error.
    h.clear();
    expect(() => h.update(id, { endedAt: T0 })).not.toThrow();
    expect(h.query({}).total).toBe(0);
  });

  it('filters by profile, login (typed or canonical, any case), outcome and time, and pages', () => {
    const h = open();
    h.insertAll([
      record({ startedAt: T0, login: 'alice' }),
      record({ startedAt: T0 + 1 * MIN, login: 'ALICE@corp.test', canonicalLogin: 'alice', outcome: 'denied', sqlstate: '28000' }),
      record({ startedAt: T0 + 2 * MIN, login: 'bob', canonicalLogin: 'bob' }),
      record({ startedAt: T0 + 3 * MIN, login: 'alice', profileId: 'finance' }),
      record({ startedAt: T0 + 4 * MIN, login: 'mallory', canonicalLogin: null, outcome: 'denied' }),
    ]);
    const logins = (q: Parameters<HistoryStore['query']>[0]) => h.query(q).rows.map((r) => `${r.profileId}/${r.login}`);
    expect(logins({ login: 'Alice' })).toEqual(['finance/alice', 'hr-prod/ALICE@corp.test', 'hr-prod/alice']);
    expect(logins({ profileId: 'hr-prod', outcome: 'denied' })).toEqual(['hr-prod/mallory', 'hr-prod/ALICE@corp.test']);
    expect(logins({ since: T0 + MIN, until: T0 + 3 * MIN, order: 'oldest' })).toEqual(['hr-prod/ALICE@corp.test', 'hr-prod/bob']);
    const page = h.query({ limit: 2, offset: 2 });
    expect(page.total).toBe(5);
    expect(page.rows.map((r) => r.startedAt)).toEqual([T0 + 2 * MIN, T0 + MIN]);
  });

  it('summarizes outcomes per bucket, including empty buckets, for a chart', () => {
    const h = open();
    h.insertAll([
      record({ startedAt: T0 + 10 }),
      record({ startedAt: T0 + 20, outcome: 'denied' }),
      record({ startedAt: T0 + 2 * MIN, outcome: 'error' }),
      record({ startedAt: T0 + 2 * MIN + 1, profileId: 'finance' }),
      record({ startedAt: T0 - 1 }),
    ]);
    expect(h.summary({ since: T0, bucketMs: MIN, until: T0 + 3 * MIN })).toEqual([
      { bucketStart: T0, success: 1, denied: 1, error: 0, aborted: 0 },
      { bucketStart: T0 + MIN, success: 0, denied: 0, error: 0, aborted: 0 },
      { bucketStart: T0 + 2 * MIN, success: 1, denied: 0, error: 1, aborted: 0 },
    ]);
    expect(h.summary({ since: T0, bucketMs: MIN, until: T0 + 3 * MIN, profileId: 'finance' })[2]?.success).toBe(1);
    expect(() => h.summary({ since: 0, bucketMs: 1, until: T0 })).toThrow(/buckets/);
  });

  it('prunes rows older than the retention period', () => {
    const h = open();
    const day = 86_400_000;
    h.insertAll([record({ startedAt: T0 - 91 * day }), record({ startedAt: T0 - 89 * day }), record({ startedAt: T0 })]);
    expect(h.prune(90, T0)).toBe(1);
    expect(h.query({}).rows.map((r) => r.startedAt)).toEqual([T0, T0 - 89 * day]);
  });

  it('persists in WAL mode with a versioned schema and a private file', () => {
    const file = path.join(dir(), 'sub', 'history.sqlite3');
    const h = open(file);
    h.insert(record());
    h.close();
    if (process.platform !== 'win32') expect(statSync(file).mode & 0o777).toBe(0o600);
    const raw = new Database(file, { readonly: true });
    expect(raw.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(raw.pragma('user_version', { simple: true })).toBe(1);
    raw.close();
    expect(open(file).query({}).total).toBe(1);
  });

  it('refuses a database from a newer Rolecall rather than guessing', () => {
    const file = path.join(dir(), 'history.sqlite3');
    const raw = new Database(file);
    raw.pragma('user_version = 99');
    raw.close();
    expect(() => new HistoryStore(file)).toThrow(/newer Rolecall/);
  });

  it('moves an unreadable database aside and starts a fresh one', () => {
    const file = path.join(dir(), 'history.sqlite3');
    writeFileSync(file, 'this is not sqlite, just text long enough to fill a header.....................');
    const h = open(file);
    expect(h.movedAsideTo).toMatch(/history\.sqlite3\.corrupt-/);
    expect(readFileSync(h.movedAsideTo!, 'utf8')).toContain('this is not sqlite');
    h.insert(record());
    expect(h.query({}).total).toBe(1);
  });

  it('has nowhere to put a password, and ignores one smuggled in', () => {
    expectTypeOf<ConnectionRecord>().not.toHaveProperty('password');
    const file = path.join(dir(), 'history.sqlite3');
    const h = open(file);
    const smuggled = { ...record(), password: 'Tr0ub4dor&3-unique' } as ConnectionRecord;
    const id = h.insert(smuggled);
    h.update(id, { endedAt: T0 + 1, ...{ password: 'Tr0ub4dor&3-unique' } } as Partial<ConnectionRecord>);
    expect(h.query({}).rows[0]).not.toHaveProperty('password');
    h.close();
    const raw = new Database(file, { readonly: true });
    const columns = (raw.pragma('table_info(connection)') as { name: string }[]).map((c) => c.name);
    raw.close();
    expect(columns.filter((c) => /pass|secret|verifier/i.test(c))).toEqual([]);
    for (const f of [file, `${file}-wal`]) {
      if (existsSync(f)) expect(readFileSync(f).includes('Tr0ub4dor')).toBe(false);
    }
  });

  it('answers a filtered page over 100,000 rows through an index', () => {
    const file = path.join(dir(), 'history.sqlite3');
    const h = open(file);
    const profiles = ['hr-prod', 'finance', 'ops', 'dev'];
    const outcomes = ['success', 'success', 'success', 'denied', 'error', 'aborted'] as const;
    const rows: ConnectionRecord[] = [];
    for (let i = 0; i < 100_000; i++) {
      rows.push(
        record({
          startedAt: T0 + i * 1000,
          profileId: profiles[i % 4]!,
          login: `user${i % 500}`,
          canonicalLogin: `user${i % 500}`,
          outcome: outcomes[i % 6]!,
        }),
      );
    }
    h.insertAll(rows);
    const q = { profileId: 'finance', outcome: 'denied' as const, since: T0 + 3_600_000, limit: 50, offset: 100 };
    const page = h.query(q);
    expect(page.rows).toHaveLength(50);
    expect(page.rows.every((r) => r.profileId === 'finance' && r.outcome === 'denied')).toBe(true);
    expect(page.total).toBeGreaterThan(1000);

    const raw = new Database(file, { readonly: true });
    const plan = (sql: string, params: Record<string, unknown>) =>
      (raw.prepare(`EXPLAIN QUERY PLAN ${sql}`).all(params) as { detail: string }[]).map((r) => r.detail).join(' | ');
    const byProfile = buildHistoryQuery(q);
    expect(plan(byProfile.select, byProfile.params)).toMatch(/USING INDEX connection_profile_started_at/);
    expect(plan(byProfile.select, byProfile.params)).not.toMatch(/TEMP B-TREE/);
    const byLogin = buildHistoryQuery({ login: 'user7', limit: 20 });
    expect(plan(byLogin.select, byLogin.params)).toMatch(/INDEX connection_login_started_at/);
    expect(plan(byLogin.select, byLogin.params)).toMatch(/INDEX connection_canonical_login_started_at/);
    const recent = buildHistoryQuery({ limit: 20 });
    expect(plan(recent.select, recent.params)).toMatch(/INDEX connection_started_at/);
    raw.close();
  });
});

describe('toCsv', () => {
  it('quotes per RFC 4180 and defuses spreadsheet formulas', () => {
    const csv = toCsv([
      record({
        id: 7,
        login: '=HYPERLINK("http://evil","x")',
        applicationName: 'DBeaver, "community"',
        message: 'line1\nline2',
        groups: ['a', 'b'],
        endedAt: T0 + 1500,
        cacheHit: true,
      }),
      record({ id: 8, login: '@SUM(A1)', applicationName: '+cmd', message: '-2', database: null }),
    ]);
    const lines = csv.split('\r\n');
    expect(lines[0]).toBe(
      'id,started_at,ended_at,duration_ms,profile_id,login,canonical_login,database,application_name,client_address,outcome,sqlstate,message,groups,cache_hit,auth_latency_ms,bytes_from_client,bytes_to_client',
    );
    expect(lines[1]).toBe(
      `7,2026-01-01T00:00:00.000Z,2026-01-01T00:00:01.500Z,1500,hr-prod,"'=HYPERLINK(""http://evil"",""x"")",alice,app,"DBeaver, ""community""",127.0.0.1,success,,"line1\nline2",a;b,true,42,0,0`,
    );
    expect(lines[2]).toBe(`8,2026-01-01T00:00:00.000Z,,,hr-prod,'@SUM(A1),alice,,'+cmd,127.0.0.1,success,,'-2,pg-developers,false,42,0,0`);
    expect(csv.endsWith('\r\n')).toBe(true);
  });
});

describe('defaultHistoryPath', () => {
  it('sits next to the config file', () => {
    expect(defaultHistoryPath({ HOME: '/home/al' }, 'linux')).toBe('/home/al/.config/rolecall/history.sqlite3');
    expect(defaultHistoryPath({ ROLECALL_CONFIG: '/srv/rc/config.json' }, 'linux')).toBe('/srv/rc/history.sqlite3');
    expect(defaultHistoryPath({ APPDATA: 'C:\\Users\\al\\AppData\\Roaming' }, 'win32')).toBe('C:\\Users\\al\\AppData\\Roaming\\Rolecall\\history.sqlite3');
  });
});
