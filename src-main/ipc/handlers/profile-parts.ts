import { z } from 'zod';
import { databaseSchema, directorySchema, profileSchema, toFieldErrors, type DatabaseConfig, type DirectoryConfig } from '../../core/profiles/schema.js';
import { invalid } from './handler-error.js';

/*
 * The diagnostics test one half of an unsaved profile: "Test directory" must
 * work while the database section is still empty, and the other way round.
 * Each half is validated with the same schema pieces the full profile uses.
 */

const directoryPart = z.object({ id: profileSchema.shape.id, directory: directorySchema });
const databasePart = z.object({ id: profileSchema.shape.id, database: databaseSchema });

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
