import type { DirectProfile, DirectProfileInput, FieldError, GroupStrategy, SslMode } from '../../src-main/core/profiles/schema.js';

/**
 * The profile editor's form model: flat, string/number fields the inputs bind
 * to, converted to and from the profile schema's shape. Validation is not done
 * here: the main process validates with the one zod schema and answers with
 * field paths ("directory.url"), which the editor shows next to each field.
 */
export type DirectoryKind = 'active-directory' | 'openldap';

export interface ProfileDraft {
  id: string;
  name: string;
  kind: DirectoryKind;
  /** The first directory server; "" when DNS finds them (domain) or none is listed. */
  url: string;
  /** More servers after the first, tried in order: a list typed as text (commas or new lines between entries). */
  moreUrls: string;
  /** DNS domain whose SRV records name the servers; "" for none. */
  domain: string;
  site: string;
  /** DNS servers for discovery, a list as text; "" for the system's. */
  dnsServers: string;
  upnSuffixes: string;
  netbiosDomains: string;
  globalCatalog: boolean;
  expiryWarningDays: number | null;
  startTls: boolean;
  ldapCaFile: string;
  insecureSkipVerify: boolean;
  bindDn: string;
  baseDn: string;
  loginAttribute: string;
  groupStrategy: GroupStrategy;
  groupPrefix: string;
  groupPattern: string;
  dbHost: string;
  dbPort: number | null;
  database: string;
  sslmode: SslMode;
  dbCaFile: string;
  syncUser: string;
  listenPort: number | null;
  ttlSeconds: number | null;
  negativeTtlSeconds: number | null;
  passwordValidForSeconds: number | null;
  revalidateSeconds: number | null;
  readOnly: boolean;
}

/** What a group of the editor's fields gets from the page: the draft to bind to, the shown error and the element id of a field path. */
export interface DraftFields {
  draft: ProfileDraft;
  err: (path: string) => string | undefined;
  fieldId: (path: string) => string;
}

export interface Preset {
  kind: DirectoryKind;
  label: string;
  loginAttribute: string;
  groupStrategy: GroupStrategy;
  startTls: boolean;
  placeholders: { url: string; bindDn: string; baseDn: string; groupPrefix: string };
}

/** What differs between directory kinds; server names are left for the user (placeholders only). */
export const presets: Record<DirectoryKind, Preset> = {
  'active-directory': {
    kind: 'active-directory',
    label: 'Active Directory',
    loginAttribute: 'sAMAccountName',
    groupStrategy: 'ad-nested',
    startTls: false,
    placeholders: {
      url: 'ldaps://dc1.corp.example.com:636',
      bindDn: 'svc-rolecall@corp.example.com',
      baseDn: 'DC=corp,DC=example,DC=com',
      groupPrefix: 'pg-',
    },
  },
  openldap: {
    kind: 'openldap',
    label: 'OpenLDAP',
    loginAttribute: 'uid',
    groupStrategy: 'member-nested',
    startTls: true,
    placeholders: {
      url: 'ldap://ldap.example.com:389',
      bindDn: 'cn=rolecall,ou=services,dc=example,dc=com',
      baseDn: 'dc=example,dc=com',
      groupPrefix: 'pg-',
    },
  },
};

export const groupStrategyOptions = [
  { value: 'ad-nested', label: 'AD nested (LDAP_MATCHING_RULE_IN_CHAIN)' },
  { value: 'member-nested', label: 'member, nested (recursive search)' },
  { value: 'member', label: 'member, direct groups only' },
  { value: 'memberOf', label: 'memberOf attribute on the user' },
] as const;

export const sslModeOptions = [
  { value: 'verify-full', label: 'verify-full (recommended)' },
  { value: 'verify-ca', label: 'verify-ca' },
  { value: 'require', label: 'require (no certificate check)' },
  { value: 'prefer', label: 'prefer' },
  { value: 'disable', label: 'disable (no TLS)' },
] as const;

const READ_ONLY = 'default_transaction_read_only';

export function newDraft(kind: DirectoryKind, port: number | null = null): ProfileDraft {
  const p = presets[kind];
  return {
    id: '',
    name: '',
    kind,
    url: '',
    moreUrls: '',
    domain: '',
    site: '',
    dnsServers: '',
    upnSuffixes: '',
    netbiosDomains: '',
    globalCatalog: false,
    expiryWarningDays: 7,
    startTls: p.startTls,
    ldapCaFile: '',
    insecureSkipVerify: false,
    bindDn: '',
    baseDn: '',
    loginAttribute: p.loginAttribute,
    groupStrategy: p.groupStrategy,
    groupPrefix: '',
    groupPattern: '',
    dbHost: '',
    dbPort: 5432,
    database: '',
    sslmode: 'verify-full',
    dbCaFile: '',
    syncUser: 'rolecall_sync',
    listenPort: port,
    ttlSeconds: 600,
    negativeTtlSeconds: 30,
    passwordValidForSeconds: 8 * 3600,
    revalidateSeconds: 300,
    readOnly: false,
  };
}

/** Switch the kind-dependent fields to a preset, keeping what the user typed about their servers. */
export function applyPreset(draft: ProfileDraft, kind: DirectoryKind): ProfileDraft {
  const p = presets[kind];
  return { ...draft, kind, loginAttribute: p.loginAttribute, groupStrategy: p.groupStrategy, startTls: p.startTls };
}

/** The form for a direct profile (broker profiles have their own, lib/broker-form.ts). */
export function fromProfile(p: DirectProfile): ProfileDraft {
  return {
    id: p.id,
    name: p.name,
    kind: p.directory.kind,
    // After parsing, url is the first of urls ("" for a domain-only profile).
    url: p.directory.url,
    moreUrls: listText(p.directory.urls.slice(1)),
    domain: p.directory.domain ?? '',
    site: p.directory.site ?? '',
    dnsServers: listText(p.directory.dnsServers ?? []),
    upnSuffixes: listText(p.directory.upnSuffixes),
    netbiosDomains: listText(p.directory.netbiosDomains),
    globalCatalog: p.directory.globalCatalog,
    expiryWarningDays: p.directory.expiryWarningDays,
    startTls: p.directory.startTls,
    ldapCaFile: p.directory.caFile ?? '',
    insecureSkipVerify: p.directory.insecureSkipVerify,
    bindDn: p.directory.bindDn,
    baseDn: p.directory.baseDn,
    loginAttribute: p.directory.loginAttribute,
    groupStrategy: p.directory.groupStrategy,
    groupPrefix: p.directory.groupPrefix,
    groupPattern: p.directory.groupPattern ?? '',
    dbHost: p.database.host,
    dbPort: p.database.port,
    database: p.database.database,
    sslmode: p.database.sslmode,
    dbCaFile: p.database.caFile ?? '',
    syncUser: p.database.syncUser,
    listenPort: p.listen.port,
    ttlSeconds: p.cache.ttlSeconds,
    negativeTtlSeconds: p.cache.negativeTtlSeconds,
    passwordValidForSeconds: p.cache.passwordValidForSeconds,
    revalidateSeconds: p.revalidate.intervalSeconds,
    readOnly: p.database.sessionDefaults[READ_ONLY] === 'on',
  };
}

const opt = (s: string): string | undefined => (s.trim() === '' ? undefined : s.trim());
/** A list typed as text: entries between commas, spaces or new lines (none of the listed values can hold one). */
export const listOf = (s: string): string[] => s.split(/[\s,]+/).filter((x) => x !== '');
const listText = (values: readonly string[]): string => values.join(', ');
// An empty number box becomes "missing", so the schema names the field rather than a NaN.
const num = (n: number | null): number | undefined => (n === null || Number.isNaN(n) ? undefined : n);

/**
 * The profile to validate or save. Fields the editor does not show (pool,
 * allowed databases, other session settings, local TLS) come from `base`.
 */
export function toInput(d: ProfileDraft, base: DirectProfile | null): DirectProfileInput {
  const sessionDefaults: Record<string, string> = { ...(base?.database.sessionDefaults ?? {}) };
  if (d.readOnly) sessionDefaults[READ_ONLY] = 'on';
  else delete sessionDefaults[READ_ONLY];
  return {
    ...(base ?? {}),
    id: d.id.trim(),
    name: d.name.trim(),
    directory: {
      ...(base?.directory ?? {}),
      kind: d.kind,
      url: d.url.trim(),
      // The schema puts url first and counts each server once, so this is the whole list in order.
      urls: listOf(d.moreUrls),
      domain: opt(d.domain),
      site: opt(d.site),
      dnsServers: listOf(d.dnsServers).length > 0 ? listOf(d.dnsServers) : undefined,
      upnSuffixes: listOf(d.upnSuffixes),
      netbiosDomains: listOf(d.netbiosDomains),
      globalCatalog: d.globalCatalog,
      expiryWarningDays: num(d.expiryWarningDays),
      startTls: d.startTls,
      caFile: opt(d.ldapCaFile),
      insecureSkipVerify: d.insecureSkipVerify,
      bindDn: d.bindDn.trim(),
      baseDn: d.baseDn.trim(),
      loginAttribute: opt(d.loginAttribute),
      groupStrategy: d.groupStrategy,
      groupPrefix: d.groupPrefix,
      groupPattern: opt(d.groupPattern),
    },
    database: {
      ...(base?.database ?? {}),
      host: d.dbHost.trim(),
      port: num(d.dbPort),
      database: d.database.trim(),
      sslmode: d.sslmode,
      caFile: opt(d.dbCaFile),
      syncUser: d.syncUser.trim(),
      sessionDefaults,
    },
    listen: { ...(base?.listen ?? { host: '127.0.0.1' }), port: num(d.listenPort) as number },
    cache: {
      ttlSeconds: num(d.ttlSeconds),
      negativeTtlSeconds: num(d.negativeTtlSeconds),
      passwordValidForSeconds: num(d.passwordValidForSeconds),
    },
    revalidate: { intervalSeconds: num(d.revalidateSeconds) },
  } as DirectProfileInput;
}

/** Fields holding a list: an error on one entry ("directory.urls.1") is shown on the field, naming the entry. */
const listFields = ['directory.urls', 'directory.dnsServers', 'directory.upnSuffixes', 'directory.netbiosDomains'];

/** Field errors by path; those no field shows are listed separately at the top of the form. */
export function indexErrors(errors: FieldError[] | undefined, shown: ReadonlySet<string>): { byPath: Record<string, string>; other: FieldError[] } {
  const byPath: Record<string, string> = {};
  const other: FieldError[] = [];
  for (const e of errors ?? []) {
    const list = listFields.find((f) => e.path.startsWith(`${f}.`) && /^\d+$/.test(e.path.slice(f.length + 1)));
    const path = list ?? e.path;
    const message = list ? `entry ${Number(e.path.slice(list.length + 1)) + 1}: ${e.message}` : e.message;
    if (shown.has(path)) byPath[path] ??= message;
    else other.push(e);
  }
  return { byPath, other };
}

/** The paths the editor has a field for. */
export const shownPaths: ReadonlySet<string> = new Set([
  'id', 'name',
  'directory.kind', 'directory.url', 'directory.urls', 'directory.domain', 'directory.site', 'directory.dnsServers',
  'directory.startTls', 'directory.caFile', 'directory.insecureSkipVerify',
  'directory.bindDn', 'directory.baseDn', 'directory.loginAttribute', 'directory.groupStrategy',
  'directory.groupPrefix', 'directory.groupPattern',
  'directory.upnSuffixes', 'directory.netbiosDomains', 'directory.globalCatalog', 'directory.expiryWarningDays',
  'database.host', 'database.port', 'database.database', 'database.sslmode', 'database.caFile', 'database.syncUser',
  'listen.port',
  'cache.ttlSeconds', 'cache.negativeTtlSeconds', 'cache.passwordValidForSeconds',
  'revalidate.intervalSeconds',
]);

/** Suggest an id from the name: "HR production" → "hr-production". */
export function slugify(name: string): string {
  return name.toLowerCase().normalize('NFKD').replace(/[^a-z0-9]+/g, '-').replace(/^-+|-+$/g, '').slice(0, 63);
}
