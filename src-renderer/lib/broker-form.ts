import type { BrokerProfile, BrokerProfileInput, FieldError } from '../../src-main/core/profiles/schema.js';

/**
 * The broker profile editor's form model. A broker profile's database comes
 * from the team's catalog (Refresh from team updates it); what the user edits
 * here is local: the name, which broker URLs to sign in through, the local
 * port, session defaults, revalidation. There is no secret to type.
 */
export interface BrokerDraft {
  name: string;
  /** One URL per line (or separated by commas). */
  urls: string;
  listenPort: number | null;
  /** One `name=value` per line. */
  sessionDefaults: string;
  revalidateSeconds: number | null;
}

export function brokerDraftOf(p: BrokerProfile): BrokerDraft {
  return {
    name: p.name,
    urls: p.broker.urls.join('\n'),
    listenPort: p.listen.port,
    sessionDefaults: formatSessionDefaults(p.database.sessionDefaults),
    revalidateSeconds: p.revalidate.intervalSeconds,
  };
}

export function formatSessionDefaults(defaults: Record<string, string>): string {
  return Object.entries(defaults)
    .map(([k, v]) => `${k}=${v}`)
    .join('\n');
}

/** `name=value` lines; a line without `=` is an error naming its number. */
export function parseSessionDefaults(text: string): { value: Record<string, string>; errors: string[] } {
  const value: Record<string, string> = {};
  const errors: string[] = [];
  text.split('\n').forEach((raw, i) => {
    const line = raw.trim();
    if (line === '' || line.startsWith('#')) return;
    const at = line.indexOf('=');
    if (at <= 0) errors.push(`line ${i + 1}: write it as name=value (e.g. statement_timeout=60s)`);
    else value[line.slice(0, at).trim()] = line.slice(at + 1).trim();
  });
  return { value, errors };
}

const num = (n: number | null): number | undefined => (n === null || Number.isNaN(n) ? undefined : n);

/**
 * The profile to save: the saved one with the edited fields replaced. Session
 * defaults that cannot be read come back as field errors (nothing to save).
 */
export function brokerInputOf(d: BrokerDraft, base: BrokerProfile): { input: BrokerProfileInput; errors: FieldError[] } {
  const defaults = parseSessionDefaults(d.sessionDefaults);
  const urls = d.urls
    .split(/[\n,]/)
    .map((u) => u.trim())
    .filter(Boolean);
  const input: BrokerProfileInput = {
    ...base,
    name: d.name.trim(),
    broker: { ...base.broker, urls },
    database: { ...base.database, sessionDefaults: defaults.value },
    listen: { ...base.listen, port: num(d.listenPort) as number },
    revalidate: { intervalSeconds: num(d.revalidateSeconds) as number },
  };
  return { input, errors: defaults.errors.map((message) => ({ path: 'database.sessionDefaults', message })) };
}

/** The paths the broker editor has a field for; other errors are listed above the form. */
export const brokerShownPaths: ReadonlySet<string> = new Set(['name', 'broker.urls', 'listen.port', 'database.sessionDefaults', 'revalidate.intervalSeconds']);

/** Errors of one URL line (broker.urls.1) shown on the URLs field. */
export function brokerFieldOf(path: string): string {
  if (path.startsWith('broker.urls')) return 'broker.urls';
  if (path.startsWith('database.sessionDefaults')) return 'database.sessionDefaults';
  return path;
}
