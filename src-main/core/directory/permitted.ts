import type { DirectoryConfig } from '../profiles/schema.js';

/**
 * The groups that may become database roles: those starting with the
 * profile's prefix (compared without regard to case, as directories compare
 * names) and, when set, matching its pattern. Sorted and without duplicates so
 * the same membership always yields the same list.
 */
export function permittedGroups(groups: string[], config: Pick<DirectoryConfig, 'groupPrefix' | 'groupPattern'>): string[] {
  const prefix = config.groupPrefix.toLowerCase();
  const pattern = config.groupPattern === undefined ? undefined : new RegExp(config.groupPattern);
  const kept = groups.filter((g) => g.toLowerCase().startsWith(prefix) && (pattern === undefined || pattern.test(g)));
  return [...new Set(kept)].sort();
}
