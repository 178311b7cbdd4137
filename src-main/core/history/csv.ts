import type { ConnectionRecord } from './record.js';

const COLUMNS: [header: string, cell: (r: ConnectionRecord) => string | number | boolean | null][] = [
  ['id', (r) => r.id ?? null],
  ['started_at', (r) => new Date(r.startedAt).toISOString()],
  ['ended_at', (r) => (r.endedAt === null ? null : new Date(r.endedAt).toISOString())],
  ['duration_ms', (r) => (r.endedAt === null ? null : r.endedAt - r.startedAt)],
  ['profile_id', (r) => r.profileId],
  ['login', (r) => r.login],
  ['canonical_login', (r) => r.canonicalLogin],
  ['database', (r) => r.database],
  ['application_name', (r) => r.applicationName],
  ['client_address', (r) => r.clientAddress],
  ['outcome', (r) => r.outcome],
  ['sqlstate', (r) => r.sqlstate],
  ['message', (r) => r.message],
  ['groups', (r) => r.groups.join(';')],
  ['cache_hit', (r) => r.cacheHit],
  ['auth_latency_ms', (r) => r.authLatencyMs],
  ['bytes_from_client', (r) => r.bytesFromClient],
  ['bytes_to_client', (r) => r.bytesToClient],
];

/**
 * RFC 4180 CSV (CRLF, quotes doubled). Text that a spreadsheet would run as a
 * formula (= + - @, tab, CR) gets a leading apostrophe: logins, application
 * names and messages come from whoever connected.
 */
export function toCsv(rows: ConnectionRecord[]): string {
  const lines = [COLUMNS.map(([h]) => h).join(',')];
  for (const r of rows) lines.push(COLUMNS.map(([, cell]) => csvCell(cell(r))).join(','));
  return `${lines.join('\r\n')}\r\n`;
}

export function csvCell(value: string | number | boolean | null): string {
  if (value === null) return '';
  if (typeof value !== 'string') return String(value);
  const safe = /^[=+\-@\t\r]/.test(value) ? `'${value}` : value;
  return /[",\r\n]/.test(safe) ? `"${safe.replace(/"/g, '""')}"` : safe;
}
