import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { AppContext } from '../app-context.js';
import { buildScramVerifier } from '../../core/sync/scram-verifier.js';
import { HandlerError } from './handler-error.js';
import { DatabaseConfigError, connectPg, describeConnectFailure } from '../../core/database/connect.js';
import { findDirectProfile, findProfile } from './profile-access.js';
import { applySaved } from './apply-outcome.js';
import { defineHandler } from './result.js';
import type { HandlersFor } from './types.js';
import pg from 'pg';
import type { Profile } from '../../core/profiles/schema.js';

/**
 * Database setup, done once per database by an administrator: show
 * install.sql, run it, and enable the sync login with a generated password.
 * The admin credentials are used for one connection and then dropped: never
 * stored, never logged.
 */
export function setupHandlers(ctx: AppContext): HandlersFor<'setup.installSql' | 'setup.install' | 'setup.createSyncLogin'> {
  const log = ctx.logger;
  return {
    'setup.installSql': defineHandler('setup.installSql', log, async () => {
      const sql = await readInstallSql(ctx);
      return { sql, creates: whatItCreates(sql) };
    }),

    'setup.install': defineHandler('setup.install', log, async ({ profileId, adminUser, adminPassword }) => {
      const profile = await findProfile(ctx, profileId);
      const sql = await readInstallSql(ctx);
      const client = await adminConnection(profile, adminUser, adminPassword);
      try {
        await client.query(sql);
        const { rows } = await client.query<{ v: string }>('SELECT rolecall.version() AS v');
        const installedVersion = rows[0]?.v ?? 'unknown';
        log.info({ profile: profileId, adminUser, installedVersion }, 'install.sql applied');
        return { installedVersion };
      } finally {
        await client.end().catch(() => undefined);
      }
    }),

    'setup.createSyncLogin': defineHandler('setup.createSyncLogin', log, async ({ profileId, adminUser, adminPassword }) => {
      const profile = await findDirectProfile(ctx, profileId, 'the role sync (with its own sync login)');
      const syncUser = profile.database.syncUser;
      const client = await adminConnection(profile, adminUser, adminPassword);
      try {
        const { rowCount } = await client.query('SELECT 1 FROM pg_catalog.pg_roles WHERE rolname = $1', [syncUser]);
        if (!rowCount) {
          throw new HandlerError({
            code: 'failed',
            message: `the role "${syncUser}" does not exist in ${profile.database.database}: install Rolecall's SQL first`,
          });
        }
        const password = randomBytes(32).toString('base64url');
        // The server gets a SCRAM verifier, never the plaintext (which would show in its statement log).
        const verifier = buildScramVerifier(password);
        // Keychain first: if it cannot store the password, the database is left as it was.
        const previous = await ctx.secrets.get(profileId, 'sync');
        await ctx.secrets.set(profileId, 'sync', password);
        try {
          await client.query(`ALTER ROLE ${quoteIdent(syncUser)} LOGIN PASSWORD ${quoteLiteral(verifier)}`);
        } catch (e) {
          if (previous) await ctx.secrets.set(profileId, 'sync', previous).catch(() => undefined);
          else await ctx.secrets.delete(profileId, 'sync').catch(() => undefined);
          throw e;
        }
        log.info({ profile: profileId, adminUser, syncUser }, 'sync login enabled with a generated password (stored in the keychain)');
        // A running proxy still holds the old password, which the server no longer accepts.
        const applied = await applySaved(ctx, profile, 'setup.createSyncLogin');
        return { login: syncUser, stored: true as const, applied };
      } finally {
        await client.end().catch(() => undefined);
      }
    }),
  };
}

async function readInstallSql(ctx: AppContext): Promise<string> {
  const file = path.join(ctx.sqlDir, 'install.sql');
  try {
    return await fs.readFile(file, 'utf8');
  } catch (e) {
    throw new HandlerError({ code: 'failed', message: `cannot read ${file} (${(e as Error).message}): reinstall Rolecall` });
  }
}

/** The admin's one connection; a failure names what to check without ever echoing the password. */
async function adminConnection(profile: Profile, adminUser: string, adminPassword: string): Promise<pg.Client> {
  const db = profile.database;
  try {
    return await connectPg(db, adminUser, adminPassword, 'rolecall-setup');
  } catch (e) {
    if (e instanceof DatabaseConfigError) throw e;
    const code = typeof (e as { code?: unknown }).code === 'string' ? (e as { code: string }).code : undefined;
    const message = describeConnectFailure(e, `the administrator "${adminUser}"`, `${db.host}:${db.port}/${db.database}`);
    const kind = e instanceof pg.DatabaseError ? (code === '3D000' ? 'invalid' : 'refused') : 'unavailable';
    throw new HandlerError({
      code: kind,
      message,
      ...(code ? { detail: code } : {}),
      ...(code === '3D000' ? { fields: [{ path: 'database.database', message: 'no such database on this server' }] } : {}),
    });
  }
}

/**
 * What install.sql creates, read from the script itself so the list cannot
 * drift: roles, the schema, tables and the functions meant to be called
 * (helpers starting with "_" are left out).
 */
export function whatItCreates(sql: string): string[] {
  const out: string[] = [];
  const add = (s: string) => {
    if (!out.includes(s)) out.push(s);
  };
  for (const m of sql.matchAll(/CREATE ROLE (\w+)([^;]*)/g)) {
    add(`role ${m[1]}${/NOLOGIN/.test(m[2] ?? '') ? ' (NOLOGIN)' : ''}`);
  }
  for (const m of sql.matchAll(/CREATE SCHEMA IF NOT EXISTS (\w+)/g)) add(`schema ${m[1]}`);
  for (const m of sql.matchAll(/CREATE TABLE IF NOT EXISTS ([\w.]+)/g)) add(`table ${m[1]}`);
  for (const m of sql.matchAll(/CREATE OR REPLACE FUNCTION ([\w.]+)\(/g)) {
    const name = m[1] ?? '';
    if (!/\._/.test(name)) add(`function ${name}()`);
  }
  return out;
}

function quoteIdent(name: string): string {
  return `"${name.replace(/"/g, '""')}"`;
}

function quoteLiteral(value: string): string {
  return `'${value.replace(/'/g, "''")}'`;
}
