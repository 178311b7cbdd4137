import type { Client, Entry } from 'ldapts';
import type { Logger } from '../log.js';
import type { DirectoryConfig } from '../profiles/schema.js';
import { escapeFilterValue } from './escape.js';
import { DirectoryError } from './errors.js';

/** The rule AD evaluates through the whole chain of nested memberships. */
const IN_CHAIN = '1.2.840.113556.1.4.1941';

/** At most this many member assertions per search when walking nested groups. */
const OR_CHUNK = 50;

type GroupConfig = Pick<
  DirectoryConfig,
  'baseDn' | 'groupBaseDn' | 'groupStrategy' | 'groupNameAttribute' | 'maxNestingDepth'
>;

/** First string value of an attribute, whatever shape ldapts gave it. */
export function firstValue(entry: Entry, attribute: string): string | undefined {
  const key = Object.keys(entry).find((k) => k.toLowerCase() === attribute.toLowerCase());
  if (key === undefined) return undefined;
  const v = entry[key];
  const first = Array.isArray(v) ? v[0] : v;
  if (first === undefined) return undefined;
  return Buffer.isBuffer(first) ? first.toString('utf8') : first;
}

/** All string values of an attribute. */
export function allValues(entry: Entry, attribute: string): string[] {
  const key = Object.keys(entry).find((k) => k.toLowerCase() === attribute.toLowerCase());
  if (key === undefined) return [];
  const v = entry[key];
  const list = Array.isArray(v) ? v : v === undefined ? [] : [v];
  return list.map((x) => (Buffer.isBuffer(x) ? x.toString('utf8') : x));
}

interface GroupEntry {
  dn: string;
  name: string | undefined;
}

/**
 * One group search. Paged (ldapts' sizeLimit would quietly truncate), search
 * references ignored (AD answers with a referral to its Configuration
 * partition), any error propagates: no partial answers.
 */
async function searchGroups(client: Client, config: GroupConfig, filter: string): Promise<GroupEntry[]> {
  const { searchEntries } = await client.search(config.groupBaseDn ?? config.baseDn, {
    scope: 'sub',
    filter,
    attributes: [config.groupNameAttribute],
    paged: { pageSize: 500 },
  });
  return searchEntries.map((e) => ({ dn: e.dn, name: firstValue(e, config.groupNameAttribute) }));
}

function names(groups: GroupEntry[], logger: Logger, attribute: string): string[] {
  const out = new Set<string>();
  for (const g of groups) {
    if (g.name === undefined) logger.warn({ group: g.dn, attribute }, 'directory group has no name attribute: ignored');
    else out.add(g.name);
  }
  return [...out].sort();
}

/** Walks `member` upwards from the user, level by level, each group visited once (cycles end there). */
async function nestedMemberGroups(client: Client, config: GroupConfig, userDn: string, logger: Logger): Promise<GroupEntry[]> {
  const seen = new Map<string, GroupEntry>();
  let frontier = [userDn];
  for (let depth = 1; frontier.length > 0; depth++) {
    if (depth > config.maxNestingDepth) {
      logger.warn(
        { user: userDn, maxNestingDepth: config.maxNestingDepth, notFollowed: frontier.slice(0, 10) },
        'directory groups nested deeper than maxNestingDepth are not considered',
      );
      break;
    }
    const next: string[] = [];
    for (let i = 0; i < frontier.length; i += OR_CHUNK) {
      const chunk = frontier.slice(i, i + OR_CHUNK);
      const filter = `(|${chunk.map((dn) => `(member=${escapeFilterValue(dn)})`).join('')})`;
      for (const g of await searchGroups(client, config, filter)) {
        const key = g.dn.toLowerCase();
        if (seen.has(key)) continue;
        seen.set(key, g);
        next.push(g.dn);
      }
    }
    frontier = next;
  }
  return [...seen.values()];
}

/** Reads each group named in the user's memberOf (direct memberships only). */
async function memberOfGroups(client: Client, config: GroupConfig, memberOf: string[]): Promise<GroupEntry[]> {
  return Promise.all(
    memberOf.map(async (dn) => {
      const { searchEntries } = await client.search(dn, { scope: 'base', attributes: [config.groupNameAttribute] });
      const entry = searchEntries[0];
      if (entry === undefined) throw new DirectoryError('failed', `group ${dn} listed in memberOf could not be read`);
      return { dn, name: firstValue(entry, config.groupNameAttribute) };
    }),
  );
}

/**
 * The names of every group the user is in, by the profile's strategy. Throws
 * on any failure: a half-read membership must never decide access.
 */
export async function resolveGroups(
  client: Client,
  config: GroupConfig,
  user: { dn: string; memberOf: string[] },
  logger: Logger,
): Promise<string[]> {
  let groups: GroupEntry[];
  switch (config.groupStrategy) {
    case 'ad-nested':
      groups = await searchGroups(client, config, `(member:${IN_CHAIN}:=${escapeFilterValue(user.dn)})`);
      break;
    case 'member':
      groups = await searchGroups(client, config, `(member=${escapeFilterValue(user.dn)})`);
      break;
    case 'member-nested':
      groups = await nestedMemberGroups(client, config, user.dn, logger);
      break;
    case 'memberOf':
      groups = await memberOfGroups(client, config, user.memberOf);
      break;
  }
  return names(groups, logger, config.groupNameAttribute);
}
