import { toCsv } from '../../core/history/csv.js';
import type { ConnectionRecord, HistoryQuery } from '../../core/history/record.js';
import type { AppContext } from '../app-context.js';
import { invalid } from './handler-error.js';
import { defineHandler } from './result.js';
import type { HandlersFor } from './types.js';

/** The history store's own cap on chart buckets. */
const MAX_BUCKETS = 10_000;

/** Rows per read when exporting everything that matches. */
const EXPORT_PAGE = 10_000;

export function historyHandlers(ctx: AppContext): HandlersFor<'history.query' | 'history.summary' | 'history.exportCsv' | 'history.clear'> {
  const log = ctx.logger;
  return {
    'history.query': defineHandler('history.query', log, async (q) => ctx.history.query(clean(q))),
    'history.summary': defineHandler('history.summary', log, async (q) => {
      const buckets = Math.ceil(((q.until ?? Date.now()) - q.since) / q.bucketMs);
      if (buckets > MAX_BUCKETS) {
        const message = `that would be ${buckets} buckets: use a larger bucket or a later start (at most ${MAX_BUCKETS})`;
        throw invalid(message, [{ path: 'bucketMs', message }]);
      }
      return ctx.history.summary(clean(q));
    }),
    'history.exportCsv': defineHandler('history.exportCsv', log, async (q) => {
      const rows = q.limit !== undefined ? ctx.history.query(clean(q)).rows : allRows(ctx, clean(q));
      return { csv: toCsv(rows), rows: rows.length };
    }),
    'history.clear': defineHandler('history.clear', log, async () => {
      ctx.history.clear();
      log.info('connection history cleared');
      return { cleared: true as const };
    }),
  };
}

/** Without a limit, an export is every matching row, read a page at a time. */
function allRows(ctx: AppContext, q: HistoryQuery): ConnectionRecord[] {
  const rows: ConnectionRecord[] = [];
  for (let offset = q.offset ?? 0; ; offset += EXPORT_PAGE) {
    const page = ctx.history.query({ ...q, limit: EXPORT_PAGE, offset }).rows;
    rows.push(...page);
    if (page.length < EXPORT_PAGE) return rows;
  }
}

/** Drops keys that are present but undefined (exactOptionalPropertyTypes-proof and tidy for SQL building). */
function clean<T extends object>(q: T): T {
  return Object.fromEntries(Object.entries(q).filter(([, v]) => v !== undefined)) as T;
}
