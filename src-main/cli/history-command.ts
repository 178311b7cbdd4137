import { parseArgs } from 'node:util';
import { defaultConfigPath } from '../core/profiles/config-path.js';
import { HistoryStore, toCsv } from '../core/history/history-store.js';
import { historyPathFor } from '../core/history/history-path.js';
import type { Outcome } from '../core/history/history-store.js';
import { println, UsageError, type CliIo } from './io.js';

const OUTCOMES = ['success', 'denied', 'error', 'aborted'];

/** Accepts an ISO date/time or a relative age like 30m, 12h, 7d. */
export function parseSince(value: string, now = Date.now()): number {
  const rel = /^(\d+)([smhd])$/.exec(value);
  if (rel) {
    const unit = { s: 1000, m: 60_000, h: 3_600_000, d: 86_400_000 }[rel[2] as 's' | 'm' | 'h' | 'd'];
    return now - Number(rel[1]) * unit;
  }
  const t = Date.parse(value);
  if (Number.isNaN(t)) throw new UsageError(`--since "${value}": use an ISO date (2026-11-29T10:00) or an age (30m, 12h, 7d)`);
  return t;
}

/** `rolecall history [--json|--csv] [--since] [--login] [--outcome] [--profile] [--limit]`. */
export async function historyCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      file: { type: 'string' },
      json: { type: 'boolean', default: false },
      csv: { type: 'boolean', default: false },
      since: { type: 'string' },
      login: { type: 'string' },
      outcome: { type: 'string' },
      profile: { type: 'string' },
      limit: { type: 'string', default: '100' },
    },
  });
  if (values.outcome && !OUTCOMES.includes(values.outcome)) throw new UsageError(`--outcome must be one of ${OUTCOMES.join(', ')}`);
  const limit = Number(values.limit);
  if (!Number.isInteger(limit) || limit < 1) throw new UsageError('--limit must be a positive whole number');
  const file = values.file ?? historyPathFor(values.config ?? defaultConfigPath());
  const store = new HistoryStore(file);
  try {
    const { rows, total } = store.query({
      ...(values.since ? { since: parseSince(values.since) } : {}),
      ...(values.login ? { login: values.login } : {}),
      ...(values.outcome ? { outcome: values.outcome as Outcome } : {}),
      ...(values.profile ? { profileId: values.profile } : {}),
      limit,
    });
    if (values.csv) io.stdout.write(toCsv(rows));
    else if (values.json) for (const r of rows) println(io.stdout, JSON.stringify(r));
    else {
      for (const r of rows) {
        const when = new Date(r.startedAt).toISOString().replace('T', ' ').slice(0, 19);
        const who = r.canonicalLogin ?? (r.login || '(no login)');
        const why = r.outcome === 'success' ? `${r.groups.join(',')}${r.cacheHit ? ' (cached)' : ''}` : `${r.sqlstate ?? ''} ${r.message ?? ''}`;
        println(io.stdout, `${when}  ${r.profileId}  ${who}  ${r.database ?? ''}  ${r.outcome}  ${why}`);
      }
      println(io.stderr, `${rows.length} of ${total} row(s)`);
    }
  } finally {
    store.close();
  }
  return 0;
}
