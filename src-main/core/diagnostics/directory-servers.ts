import type { DirectoryReport } from '../directory/report.js';

/**
 * Which directory servers a check found and which answered, as the profile
 * editor's "Test directory" and `rolecall doctor` show it: the DNS queries
 * asked and what each named, then every server in the order a sign-in tries
 * them, up or down with its last error. Plain JSON (it crosses IPC).
 */
export interface ServersReport {
  discovery?: {
    domain: string;
    site?: string;
    /** The DNS servers asked ("system": the machine's own). */
    dnsServers: string[];
    queries: { name: string; found: string[]; error?: string }[];
    /** Why discovery found nothing (configured servers, if any, are still tried). */
    error?: string;
  };
  servers: ServerLine[];
}

export interface ServerLine {
  url: string;
  /** dns: found by discovery; config: the profile's url/urls. */
  source: 'dns' | 'config';
  /** up: the service account bound there; down: it could not (lastError says why); untried: not reached in this check. */
  state: 'up' | 'down' | 'untried';
  lastError?: string;
}

export function serversReport(report: DirectoryReport): ServersReport {
  const d = report.discovery;
  return {
    ...(d === undefined
      ? {}
      : {
          discovery: {
            domain: d.domain,
            ...(d.site === undefined ? {} : { site: d.site }),
            dnsServers: [...d.dnsServers],
            queries: d.queries.map((q) => ({ name: q.name, found: [...q.found], ...(q.error === undefined ? {} : { error: q.error }) })),
            ...(d.error === undefined ? {} : { error: d.error }),
          },
        }),
    servers: report.servers.map((s) => ({ url: s.url, source: s.source, state: s.state, ...(s.lastError === undefined ? {} : { lastError: s.lastError }) })),
  };
}

/** The report as text lines, for the command line (the app renders the same fields as a table). */
export function serversReportLines(r: ServersReport): string[] {
  const lines: string[] = [];
  const d = r.discovery;
  if (d !== undefined) {
    lines.push(`DNS (${d.dnsServers.join(', ')}) for ${d.domain}${d.site === undefined ? '' : `, site ${d.site}`}:`);
    for (const q of d.queries) lines.push(`  ${q.name}: ${q.error !== undefined ? `failed (${q.error})` : q.found.length > 0 ? q.found.join(', ') : 'none'}`);
    if (d.queries.length === 0) lines.push('  not asked');
  }
  if (r.servers.length === 0) {
    lines.push('no directory server to try');
    return lines;
  }
  lines.push('servers, in the order a sign-in tries them:');
  r.servers.forEach((s, i) => {
    const from = s.source === 'dns' ? 'from DNS' : 'configured';
    const state = s.state === 'up' ? '✓ answered' : s.state === 'down' ? `✗ failed: ${s.lastError ?? 'no reason known'}` : '· not tried';
    lines.push(`  ${i + 1}. ${s.url} (${from}) ${state}`);
  });
  return lines;
}
