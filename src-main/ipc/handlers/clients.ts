import { promises as fs } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../../core/profiles/atomic-write.js';
import type { Profile } from '../../core/profiles/schema.js';
import { homeDir, type AppContext } from '../app-context.js';
import type { ClientStrings } from '../contract.js';
import { findProfile, loadConfig } from './profile-access.js';
import { checkPort } from './port-check.js';
import { defineHandler } from './result.js';
import type { HandlersFor } from './types.js';

/**
 * What clients need to reach a profile's proxy: host, port, database, user.
 * Never a password: clients prompt for it, the proxy checks it against the
 * directory.
 */
export function clientHandlers(ctx: AppContext): HandlersFor<'clients.strings' | 'clients.writePgService' | 'clients.checkPort'> {
  const log = ctx.logger;
  return {
    'clients.strings': defineHandler('clients.strings', log, async ({ profileId, login }) =>
      clientStrings(await findProfile(ctx, profileId), login),
    ),
    'clients.writePgService': defineHandler('clients.writePgService', log, async ({ profileId, login }) => {
      const profile = await findProfile(ctx, profileId);
      const file = pgServiceFile(ctx.env);
      let text = '';
      try {
        text = await fs.readFile(file, 'utf8');
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw e;
      }
      const service = serviceName(profile);
      await writeFileAtomic(file, upsertSection(text, service, pgServiceSection(profile, login)), 0o600);
      log.info({ profile: profileId, file, service }, 'pg_service.conf entry written');
      return { file, service };
    }),
    'clients.checkPort': defineHandler('clients.checkPort', log, async ({ port, exceptProfileId }) => {
      const config = await loadConfig(ctx);
      return checkPort(ctx.service, config.profiles, port, { exceptIds: [exceptProfileId] });
    }),
  };
}

export function serviceName(profile: Profile): string {
  return `rolecall-${profile.id}`;
}

/** libpq's sslmode toward the local proxy: TLS when the profile offers it, otherwise loopback in clear (no round trip). */
function localSslMode(profile: Profile): 'require' | 'disable' {
  return profile.listen.tls.enabled ? 'require' : 'disable';
}

export function clientStrings(profile: Profile, login: string | undefined): ClientStrings {
  const host = profile.listen.host;
  const port = profile.listen.port;
  const db = profile.database.database;
  const sslmode = localSslMode(profile);
  const user = login?.trim() ? login.trim() : undefined;

  const psql = ['psql', '-h', host, '-p', String(port), ...(user ? ['-U', user] : []), '-d', db].map(shellQuote).join(' ');
  const libpq = [
    ['host', host],
    ['port', String(port)],
    ['dbname', db],
    ...(user ? [['user', user]] : []),
    ['sslmode', sslmode],
  ]
    .map(([k, v]) => `${k}=${libpqValue(v ?? '')}`)
    .join(' ');
  const jdbcHost = host.includes(':') ? `[${host}]` : host;
  const params = new URLSearchParams({ ...(user ? { user } : {}), sslmode });
  const jdbc = `jdbc:postgresql://${jdbcHost}:${port}/${encodeURIComponent(db)}?${params.toString()}`;
  return { psql, libpq, jdbc, pgService: pgServiceSection(profile, login) };
}

/** A pg_service.conf section (no password: libpq would read one from there, and we never write one). */
export function pgServiceSection(profile: Profile, login: string | undefined): string {
  const user = login?.trim();
  const lines = [
    `[${serviceName(profile)}]`,
    `# ${profile.name} (Rolecall proxy)`,
    `host=${profile.listen.host}`,
    `port=${profile.listen.port}`,
    `dbname=${profile.database.database}`,
    ...(user ? [`user=${user}`] : []),
    `sslmode=${localSslMode(profile)}`,
  ];
  return `${lines.join('\n')}\n`;
}

/** PGSERVICEFILE when set (as libpq reads it), else ~/.pg_service.conf. */
export function pgServiceFile(env: NodeJS.ProcessEnv): string {
  if (env.PGSERVICEFILE) return path.resolve(env.PGSERVICEFILE);
  return path.join(homeDir(env), '.pg_service.conf');
}

/** Replaces the [name] section (up to the next section) or appends it; everything else is kept as it was. */
export function upsertSection(text: string, name: string, section: string): string {
  const lines = text.length > 0 ? text.replace(/\r\n/g, '\n').split('\n') : [];
  const header = (l: string) => /^\s*\[([^\]]+)\]\s*$/.exec(l)?.[1]?.trim();
  const start = lines.findIndex((l) => header(l) === name);
  const sectionLines = section.replace(/\n$/, '').split('\n');
  if (start === -1) {
    const body = lines.join('\n').replace(/\n*$/, '');
    return `${body.length > 0 ? `${body}\n\n` : ''}${sectionLines.join('\n')}\n`;
  }
  let end = start + 1;
  while (end < lines.length && header(lines[end] ?? '') === undefined) end++;
  // Keep a blank line before the next section.
  const next = lines.slice(end);
  const before = lines.slice(0, start);
  const out = [...before, ...sectionLines, ...(next.length > 0 ? ['', ...next] : [])];
  return `${out.join('\n').replace(/\n*$/, '')}\n`;
}

function shellQuote(s: string): string {
  return /^[A-Za-z0-9_.:@%+=,/-]+$/.test(s) ? s : `'${s.replace(/'/g, `'\\''`)}'`;
}

function libpqValue(s: string): string {
  return /^[^\s'\\]+$/.test(s) && s.length > 0 ? s : `'${s.replace(/\\/g, '\\\\').replace(/'/g, "\\'")}'`;
}
