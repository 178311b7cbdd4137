import { closeSync, existsSync, mkdirSync, openSync, renameSync } from 'node:fs';
import path from 'node:path';
import Database from 'better-sqlite3';
import { migrate } from './migrations.js';
import { buildHistoryQuery } from './query-sql.js';
import { isOutcome, type ConnectionRecord, type HistoryQuery, type SummaryBucket } from './record.js';

export { toCsv } from './csv.js';
export { defaultHistoryPath } from './history-path.js';
export { outcomes, type ConnectionRecord, type HistoryQuery, type Outcome, type SummaryBucket } from './record.js';

const DAY_MS = 86_400_000;
const MAX_BUCKETS = 10_000;

interface Row {
  id: number;
  started_at: number;
  ended_at: number | null;
  profile_id: string;
  login: string;
  canonical_login: string | null;
  database: string | null;
  application_name: string | null;
  client_address: string | null;
  outcome: ConnectionRecord['outcome'];
  sqlstate: string | null;
  message: string | null;
  groups_json: string;
  cache_hit: number;
  auth_latency_ms: number | null;
  bytes_from_client: number;
  bytes_to_client: number;
}

type Params = Record<string, string | number | null>;

/** Record field → column, for inserts and partial updates. */
const COLUMN: Record<Exclude<keyof ConnectionRecord, 'id'>, [column: string, toDb: (v: never) => string | number | null]> = {
  startedAt: ['started_at', (v: number) => v],
  endedAt: ['ended_at', (v: number | null) => v],
  profileId: ['profile_id', (v: string) => v],
  login: ['login', (v: string) => v],
  canonicalLogin: ['canonical_login', (v: string | null) => v],
  database: ['database', (v: string | null) => v],
  applicationName: ['application_name', (v: string | null) => v],
  clientAddress: ['client_address', (v: string | null) => v],
  outcome: ['outcome', (v: string) => v],
  sqlstate: ['sqlstate', (v: string | null) => v],
  message: ['message', (v: string | null) => v],
  groups: ['groups_json', (v: string[]) => JSON.stringify(v)],
  cacheHit: ['cache_hit', (v: boolean) => (v ? 1 : 0)],
  authLatencyMs: ['auth_latency_ms', (v: number | null) => v],
  bytesFromClient: ['bytes_from_client', (v: number) => v],
  bytesToClient: ['bytes_to_client', (v: number) => v],
};
const FIELDS = Object.keys(COLUMN) as (keyof typeof COLUMN)[];

/**
 * Connection history in SQLite (WAL). The proxy inserts a row when
 * authentication finishes and updates it at close with bytes and end time.
 */
export class HistoryStore {
  /** Set when an unreadable database file was renamed aside and a new one started. */
  readonly movedAsideTo: string | undefined;
  private readonly db: Database.Database;
  private readonly statements = new Map<string, Database.Statement>();
  private readonly insertMany: (rows: ConnectionRecord[]) => number[];

  constructor(readonly filePath: string | ':memory:') {
    const opened = openDatabase(filePath);
    this.db = opened.db;
    this.movedAsideTo = opened.movedAsideTo;
    this.insertMany = this.db.transaction((rows: ConnectionRecord[]) => rows.map((r) => this.insert(r)));
  }

  /** Returns the new row's id. Unknown properties (there must be no password) are never stored. */
  insert(r: ConnectionRecord): number {
    if (!isOutcome(r.outcome)) throw new Error(`unknown outcome "${String(r.outcome)}"`);
    const params: Params = {};
    for (const f of FIELDS) {
      const [column, toDb] = COLUMN[f];
      params[column] = toDb(r[f] as never);
    }
    const columns = FIELDS.map((f) => COLUMN[f][0]);
    const sql = `INSERT INTO connection (${columns.join(', ')}) VALUES (${columns.map((c) => `@${c}`).join(', ')})`;
    return Number(this.statement(sql).run(params).lastInsertRowid);
  }

  /** Many rows in one transaction (imports, tests). */
  insertAll(rows: ConnectionRecord[]): number[] {
    return this.insertMany(rows);
  }

  /** Changes some fields of a row; a missing row (history cleared meanwhile) is ignored. */
  update(id: number, patch: Partial<ConnectionRecord>): void {
    const fields = FIELDS.filter((f) => patch[f] !== undefined);
    if (fields.length === 0) return;
    if (patch.outcome !== undefined && !isOutcome(patch.outcome)) throw new Error(`unknown outcome "${String(patch.outcome)}"`);
    const params: Params = { id };
    for (const f of fields) {
      const [column, toDb] = COLUMN[f];
      params[column] = toDb(patch[f] as never);
    }
    const sets = fields.map((f) => `${COLUMN[f][0]} = @${COLUMN[f][0]}`).join(', ');
    this.statement(`UPDATE connection SET ${sets} WHERE id = @id`).run(params);
  }

  query(q: HistoryQuery = {}): { rows: ConnectionRecord[]; total: number } {
    const sql = buildHistoryQuery(q);
    const rows = (this.statement(sql.select).all(sql.params) as Row[]).map(fromRow);
    const { limit: _limit, offset: _offset, ...filter } = sql.params;
    const total = (this.statement(sql.count).get(filter) as { n: number }).n;
    return { rows, total };
  }

  /**
   * Outcome counts per time bucket from `since` up to `until` (default now),
   * empty buckets included, for a chart.
   */
  summary(q: { since: number; bucketMs: number; profileId?: string; until?: number }): SummaryBucket[] {
    const until = q.until ?? Date.now();
    if (!(q.bucketMs >= 1)) throw new Error('bucketMs must be at least 1');
    const count = Math.max(0, Math.ceil((until - q.since) / q.bucketMs));
    if (count > MAX_BUCKETS) throw new Error(`that would be ${count} buckets; use a larger bucketMs (at most ${MAX_BUCKETS} buckets)`);
    const buckets: SummaryBucket[] = Array.from({ length: count }, (_, i) => ({
      bucketStart: q.since + i * q.bucketMs,
      success: 0,
      denied: 0,
      error: 0,
      aborted: 0,
    }));
    const byProfile = q.profileId !== undefined ? ' AND profile_id = @profileId' : '';
    const sql = `SELECT CAST((started_at - @since) / @bucketMs AS INTEGER) AS b, outcome, count(*) AS n FROM connection
       WHERE started_at >= @since AND started_at < @until${byProfile} GROUP BY b, outcome`;
    // better-sqlite3 binds JS numbers as REAL, hence the CAST above.
    const params: Params = { since: q.since, until, bucketMs: Math.trunc(q.bucketMs) };
    if (q.profileId !== undefined) params.profileId = q.profileId;
    for (const row of this.statement(sql).all(params) as { b: number; outcome: ConnectionRecord['outcome']; n: number }[]) {
      const bucket = buckets[row.b];
      if (bucket) bucket[row.outcome] += row.n;
    }
    return buckets;
  }

  /** Deletes rows that started more than retentionDays ago; returns how many. */
  prune(retentionDays: number, now: number = Date.now()): number {
    const cutoff = now - retentionDays * DAY_MS;
    return this.statement('DELETE FROM connection WHERE started_at < @cutoff').run({ cutoff }).changes;
  }

  /** Deletes everything and compacts the file, so cleared rows do not linger in free pages. */
  clear(): void {
    this.db.exec('DELETE FROM connection');
    this.db.exec('VACUUM');
  }

  close(): void {
    this.db.close();
  }

  private statement(sql: string): Database.Statement {
    let s = this.statements.get(sql);
    if (!s) {
      s = this.db.prepare(sql);
      this.statements.set(sql, s);
    }
    return s;
  }
}

function fromRow(row: Row): ConnectionRecord {
  return {
    id: row.id,
    startedAt: row.started_at,
    endedAt: row.ended_at,
    profileId: row.profile_id,
    login: row.login,
    canonicalLogin: row.canonical_login,
    database: row.database,
    applicationName: row.application_name,
    clientAddress: row.client_address,
    outcome: row.outcome,
    sqlstate: row.sqlstate,
    message: row.message,
    groups: parseGroups(row.groups_json),
    cacheHit: row.cache_hit === 1,
    authLatencyMs: row.auth_latency_ms,
    bytesFromClient: row.bytes_from_client,
    bytesToClient: row.bytes_to_client,
  };
}

function parseGroups(json: string): string[] {
  try {
    const v: unknown = JSON.parse(json);
    return Array.isArray(v) ? v.filter((g): g is string => typeof g === 'string') : [];
  } catch {
    return [];
  }
}

function openDatabase(filePath: string): { db: Database.Database; movedAsideTo?: string } {
  if (filePath === ':memory:') return { db: configure(new Database(':memory:')) };
  mkdirSync(path.dirname(filePath), { recursive: true, mode: 0o700 });
  // Create it 0600 ourselves: it names people, databases and addresses. SQLite gives -wal/-shm the same mode.
  if (!existsSync(filePath)) closeSync(openSync(filePath, 'a', 0o600));
  try {
    return { db: configure(new Database(filePath)) };
  } catch (e) {
    const code = (e as { code?: unknown }).code;
    if (code !== 'SQLITE_NOTADB' && code !== 'SQLITE_CORRUPT') throw e;
    // History is a convenience: keep the damaged file for inspection and start afresh.
    const movedAsideTo = `${filePath}.corrupt-${new Date().toISOString().replace(/[:.]/g, '-')}`;
    renameSync(filePath, movedAsideTo);
    closeSync(openSync(filePath, 'a', 0o600));
    return { db: configure(new Database(filePath)), movedAsideTo };
  }
}

function configure(db: Database.Database): Database.Database {
  try {
    db.pragma('journal_mode = WAL');
    db.pragma('synchronous = NORMAL');
    db.pragma('busy_timeout = 5000');
    migrate(db);
    return db;
  } catch (e) {
    db.close();
    throw e;
  }
}
