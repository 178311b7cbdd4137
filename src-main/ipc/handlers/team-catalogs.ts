import { randomBytes } from 'node:crypto';
import type { CatalogEntry } from '../../core/broker-api/schema.js';
import type { AppContext } from '../app-context.js';

/** A catalog answer between "Sign in" and "Add": no secret in it (the password was used once and dropped). */
export interface CachedCatalog {
  entries: CatalogEntry[];
  /** The broker URLs the profiles will sign in through. */
  brokerUrls: string[];
  brokerCaFile: string | undefined;
  expiresAt: number;
}

/** Long enough to pick databases and ports, short enough that a stale catalog is asked again. */
export const CATALOG_TTL_MS = 10 * 60_000;
const MAX_KEPT = 20;

const caches = new WeakMap<AppContext, Map<string, CachedCatalog>>();

function cacheOf(ctx: AppContext): Map<string, CachedCatalog> {
  let cache = caches.get(ctx);
  if (!cache) caches.set(ctx, (cache = new Map()));
  return cache;
}

/** Keeps a catalog answer for team.add; answers the id that names it. */
export function keepCatalog(ctx: AppContext, catalog: Omit<CachedCatalog, 'expiresAt'>, now = Date.now()): string {
  const cache = cacheOf(ctx);
  for (const [id, c] of cache) if (c.expiresAt <= now) cache.delete(id);
  while (cache.size >= MAX_KEPT) cache.delete(cache.keys().next().value as string);
  const id = randomBytes(16).toString('base64url');
  cache.set(id, { ...catalog, expiresAt: now + CATALOG_TTL_MS });
  return id;
}

/** The catalog answer named by `id`, or undefined when it is unknown or too old. */
export function keptCatalog(ctx: AppContext, id: string, now = Date.now()): CachedCatalog | undefined {
  const c = cacheOf(ctx).get(id);
  return c && c.expiresAt > now ? c : undefined;
}
