import type { HistoryQuery } from './record.js';

export const DEFAULT_LIMIT = 100;
export const MAX_LIMIT = 10_000;

export interface HistorySql {
  /** Page of rows, newest or oldest first. */
  select: string;
  /** Same filter, no paging. */
  count: string;
  params: Record<string, string | number>;
}

/**
 * The SQL for a history query. Only the shape of the filter goes into the
 * text (so prepared statements can be cached per shape); values are bound.
 * Filters line up with the indexes: (profile_id, started_at),
 * (login, started_at), (canonical_login, started_at), (started_at).
 */
export function buildHistoryQuery(q: HistoryQuery): HistorySql {
  const where: string[] = [];
  const params: Record<string, string | number> = {};
  if (q.profileId !== undefined) {
    where.push('profile_id = @profileId');
    params.profileId = q.profileId;
  }
  if (q.login !== undefined) {
    where.push('(login = @login OR canonical_login = @login)');
    params.login = q.login;
  }
  if (q.outcome !== undefined) {
    where.push('outcome = @outcome');
    params.outcome = q.outcome;
  }
  if (q.since !== undefined) {
    where.push('started_at >= @since');
    params.since = q.since;
  }
  if (q.until !== undefined) {
    where.push('started_at < @until');
    params.until = q.until;
  }
  const filter = where.length > 0 ? ` WHERE ${where.join(' AND ')}` : '';
  const dir = q.order === 'oldest' ? 'ASC' : 'DESC';
  params.limit = clampInt(q.limit ?? DEFAULT_LIMIT, 1, MAX_LIMIT);
  params.offset = clampInt(q.offset ?? 0, 0, Number.MAX_SAFE_INTEGER);
  return {
    select: `SELECT * FROM connection${filter} ORDER BY started_at ${dir}, id ${dir} LIMIT @limit OFFSET @offset`,
    count: `SELECT count(*) AS n FROM connection${filter}`,
    params,
  };
}

function clampInt(n: number, min: number, max: number): number {
  if (!Number.isFinite(n)) return min;
  return Math.min(max, Math.max(min, Math.trunc(n)));
}
