import { mkdirSync, writeFileSync } from 'node:fs';
import path from 'node:path';
import type { CatalogEntry } from '../broker-api/schema.js';
import { nextFreePort } from '../proxy/free-port.js';
import { isBrokerProfile, type BrokerProfileInput, type Config, type FieldError, type Profile } from './schema.js';
import type { ProfileStore } from './store.js';

/** Where CA files of broker profiles live: `ca/` beside the config file. */
export function caDirFor(configPath: string): string {
  return path.join(path.dirname(configPath), 'ca');
}

/** The broker's CA file for the profiles of a broker at `url`: `ca/broker-<host>.pem`. */
export function brokerCaFileFor(caDir: string, url: string): string {
  return path.join(caDir, `broker-${new URL(url).hostname.replace(/[^A-Za-z0-9.-]/g, '_')}.pem`);
}

/** Writes a PEM beside the config (0644: certificates are public), creating `ca/` as needed. */
export function writeCaFile(file: string, pem: string): void {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, pem, { mode: 0o644 });
}

export interface CatalogImportOptions {
  /** The broker URLs the profiles sign in through, in order. */
  brokerUrls: string[];
  /** The broker's CA file as the profiles will name it (absent: the trusted roots). */
  brokerCaFile?: string;
  /** Folder for the databases' CA bundles (one `<id>.pem` per database that has one). */
  caDir: string;
  /** The profiles already in the config file. */
  existing: Profile[];
  /** Local ports from this one upward instead of the catalog's suggestions. */
  portBase?: number;
  /** The local port chosen for a new profile, by catalog id (the app lets the user pick); else the suggestion or the next free one. */
  ports?: Record<string, number>;
  /** A direct profile with a catalog id becomes that broker profile (keeping its port) instead of being an error. */
  replaceDirect: boolean;
}

export type ImportStatus = 'new' | 'updated' | 'replaced';

export interface CatalogImport {
  profiles: { input: BrokerProfileInput; status: ImportStatus }[];
  /** CA bundles to write before the profiles are saved (PEM, mode 0644). */
  caFiles: { file: string; pem: string }[];
}

/** A direct profile has the id a catalog database would get, and replacing it was not asked for. */
export class CatalogImportConflict extends Error {
  constructor(readonly ids: string[]) {
    super(
      `${ids.map((id) => `"${id}"`).join(', ')} already exist${ids.length === 1 ? 's' : ''} as direct profile${ids.length === 1 ? '' : 's'}: ` +
        'pass --replace to turn them into broker profiles (each keeps its local port; its stored passwords are deleted), or rename them first',
    );
    this.name = 'CatalogImportConflict';
  }
}

/**
 * Broker profiles for databases of the broker's catalog, as
 * `rolecall profiles import --broker` writes them: the profile id is the
 * catalog id; the database settings are the catalog's (its CA bundle goes to
 * a file of its own); the local port is the catalog's suggestion, or the next
 * free one when another profile or program holds it. A broker profile that is
 * already there is refreshed and keeps its local settings (port, pool,
 * revalidation, cache). Nothing here holds a secret.
 */
export async function profilesFromCatalog(entries: CatalogEntry[], options: CatalogImportOptions): Promise<CatalogImport> {
  const conflicts = entries.filter((e) => options.existing.some((p) => p.id === e.id && !isBrokerProfile(p)) && !options.replaceDirect).map((e) => e.id);
  if (conflicts.length > 0) throw new CatalogImportConflict(conflicts);
  const taken: { listen: { port: number } }[] = options.existing.filter((p) => !entries.some((e) => e.id === p.id));
  const out: CatalogImport = { profiles: [], caFiles: [] };
  for (const entry of entries) {
    const before = options.existing.find((p) => p.id === entry.id);
    const caFile = entry.caPem === undefined ? undefined : path.join(options.caDir, `${entry.id}.pem`);
    if (caFile !== undefined && entry.caPem !== undefined) out.caFiles.push({ file: caFile, pem: entry.caPem });
    const chosen = options.ports?.[entry.id];
    const listen = before?.listen ?? { host: '127.0.0.1', port: chosen ?? (await localPort(taken, options.portBase ?? entry.suggestedLocalPort, entry.id)) };
    taken.push({ listen });
    const kept = before && isBrokerProfile(before) ? { cache: before.cache, pool: before.pool, revalidate: before.revalidate } : {};
    out.profiles.push({
      status: before === undefined ? 'new' : isBrokerProfile(before) ? 'updated' : 'replaced',
      input: {
        mode: 'broker',
        id: entry.id,
        name: entry.name,
        broker: {
          urls: options.brokerUrls,
          ...(options.brokerCaFile === undefined ? {} : { caFile: options.brokerCaFile }),
          database: entry.id,
          ...(before && isBrokerProfile(before)
            ? { connectTimeoutMs: before.broker.connectTimeoutMs, timeoutMs: before.broker.timeoutMs, deadUrlSeconds: before.broker.deadUrlSeconds }
            : {}),
        },
        database: {
          host: entry.host,
          port: entry.port,
          database: entry.database,
          sslmode: entry.sslmode,
          ...(entry.sslnegotiation === undefined ? {} : { sslnegotiation: entry.sslnegotiation }),
          ...(caFile === undefined ? {} : { caFile }),
          sessionDefaults: entry.sessionDefaults,
        },
        listen,
        ...kept,
      },
    });
  }
  return out;
}

async function localPort(taken: { listen: { port: number } }[], from: number, id: string): Promise<number> {
  const port = await nextFreePort(taken, from);
  if (port === null) throw new Error(`no free local port from ${from} for "${id}": pass --port-base with another range`);
  return port;
}

/**
 * Writes what profilesFromCatalog planned: the databases' CA bundles, then
 * the config with the new profiles appended and the existing ones replaced
 * in place. Answers the store's field errors (nothing saved) or null.
 */
export async function saveCatalogImport(store: ProfileStore, config: Config, plan: CatalogImport): Promise<FieldError[] | null> {
  for (const f of plan.caFiles) writeCaFile(f.file, f.pem);
  const planned = new Map(plan.profiles.map((p) => [p.input.id, p.input]));
  const profiles = config.profiles.map((p) => planned.get(p.id) ?? p);
  for (const p of plan.profiles) if (p.status === 'new') profiles.push(p.input);
  return store.save({ ...config, profiles });
}
