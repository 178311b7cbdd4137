import type pg from 'pg';

/** rolecall.preview_sync's jsonb (sql/postgres/install.sql): what sync_login would do, nothing done. */
export interface SyncPreview {
  refused: string | null;
  exists: boolean;
  managed: boolean;
  denied: boolean;
  created: boolean;
  granted: string[];
  revoked: string[];
  roles: string[];
  skipped: string[];
}

/**
 * Asks the database what a sync of this login and these groups would do,
 * through the same function that decides at sign-in (as the sync account),
 * changing nothing. pg errors propagate (isNotInstalled tells the missing SQL).
 */
export async function previewSync(client: pg.ClientBase, login: string, groups: string[]): Promise<SyncPreview> {
  const { rows } = await client.query<{ r: SyncPreview }>('SELECT rolecall.preview_sync($1, $2::text[]) AS r', [login, groups]);
  if (!rows[0]) throw new Error('rolecall.preview_sync returned no row');
  return rows[0].r;
}
