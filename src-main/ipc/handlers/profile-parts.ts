import { z } from 'zod';
import {
  brokerDatabaseSchema,
  databaseSchema,
  directorySchema,
  profileIdSchema,
  toFieldErrors,
  type DatabaseConfig,
  type DatabaseTarget,
  type DirectoryConfig,
} from '../../core/profiles/schema.js';
import { invalid } from './handler-error.js';

/*
 * The diagnostics test one half of an unsaved profile: "Test directory" must
 * work while the database section is still empty, and the other way round.
 * Each half is validated with the same schema pieces the full profile uses.
 */

const directoryPart = z.object({ id: profileIdSchema, directory: directorySchema });
const databasePart = z.object({ id: profileIdSchema, database: databaseSchema });
const brokerDatabasePart = z.object({ id: profileIdSchema, mode: z.literal('broker'), database: brokerDatabaseSchema });

export function parseDirectoryPart(raw: unknown): { id: string; directory: DirectoryConfig } {
  const parsed = directoryPart.safeParse(raw);
  if (!parsed.success) throw invalid('fix the directory fields first', toFieldErrors(parsed.error));
  return parsed.data;
}

export function parseDatabasePart(raw: unknown): { id: string; database: DatabaseConfig } {
  const parsed = databasePart.safeParse(raw);
  if (!parsed.success) throw invalid('fix the database fields first', toFieldErrors(parsed.error));
  return parsed.data;
}

/** A broker profile's database section (the catalog's settings: no sync login), or null when the profile is not a broker profile. */
export function parseBrokerDatabasePart(raw: unknown): { id: string; database: DatabaseTarget } | null {
  if (raw === null || typeof raw !== 'object' || (raw as { mode?: unknown }).mode !== 'broker') return null;
  const parsed = brokerDatabasePart.safeParse(raw);
  if (!parsed.success) throw invalid('fix the database fields first', toFieldErrors(parsed.error));
  return parsed.data;
}
