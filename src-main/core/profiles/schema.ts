import { z } from 'zod';

/**
 * The one schema for a profile. The file store, the CLI, the IPC handlers and
 * the renderer's form errors all validate with it. Secrets (the directory
 * service-account password, the sync-account password) are never part of a
 * profile: they live in the SecretStore under the profile id.
 */

const ldapUrl = z
  .string()
  .regex(/^ldaps?:\/\/[^\s/]+(:\d+)?\/?$/, 'must look like ldap://host:389 or ldaps://host:636');

const roleName = z
  .string()
  .min(1)
  .refine((s) => Buffer.byteLength(s, 'utf8') <= 63, 'must be at most 63 bytes (PostgreSQL NAMEDATALEN)');

export const groupStrategies = ['ad-nested', 'member', 'member-nested', 'memberOf'] as const;
export const sslModes = ['disable', 'prefer', 'require', 'verify-ca', 'verify-full'] as const;
/** libpq's sslnegotiation: SSLRequest first (any server), or TLS at once (PostgreSQL 17+, ALPN "postgresql"). */
export const sslNegotiations = ['postgres', 'direct'] as const;

/** A DNS name such as corp.example.com (no trailing dot). */
const dnsName = z
  .string()
  .regex(/^(?=.{1,253}$)([A-Za-z0-9_]([A-Za-z0-9_-]{0,61}[A-Za-z0-9])?\.)*[A-Za-z0-9]([A-Za-z0-9-]{0,61}[A-Za-z0-9])?$/, 'must be a DNS name like corp.example.com');

/** A DNS server for discovery: an IPv4 or IPv6 address, optionally with a port (1.2.3.4:53, [::1]:53). */
const dnsServer = z
  .string()
  .regex(/^(\d{1,3}(\.\d{1,3}){3}(:\d{1,5})?|[0-9A-Fa-f:]+|\[[0-9A-Fa-f:]+\](:\d{1,5})?)$/, 'must be an IP address, optionally with :port');

/**
 * The directory servers named in the profile, in order: `url` first, then
 * `urls`, each once. `url` is shorthand for a one-element `urls`; given both,
 * `url` is the first server. Also used by core/directory, so a config edited
 * in code without re-parsing means the same servers.
 */
export function staticDirectoryUrls(d: { url?: string | undefined; urls?: readonly string[] | undefined }): string[] {
  const seen = new Set<string>();
  const out: string[] = [];
  for (const u of [d.url ?? '', ...(d.urls ?? [])]) {
    const key = u.toLowerCase().replace(/\/$/, '');
    if (u === '' || seen.has(key)) continue;
    seen.add(key);
    out.push(u);
  }
  return out;
}

/**
 * A profile's directory servers in words, for lists, headings and messages:
 * `corp.example.com (DNS, site Berlin), ldaps://dc9.corp.example.com:636`.
 * A domain-only profile has no `url` to show; this always says something.
 */
export function describeDirectoryServers(d: { domain?: string | undefined; site?: string | undefined; url?: string | undefined; urls?: readonly string[] | undefined }): string {
  const dns = d.domain === undefined ? [] : [`${d.domain} (DNS${d.site === undefined ? '' : `, site ${d.site}`})`];
  return [...dns, ...staticDirectoryUrls(d)].join(', ') || 'no directory server';
}

export const directorySchema = z
  .object({
    /** Which kind of server: changes defaults (login attribute, group strategy, DN forms accepted). */
    kind: z.enum(['active-directory', 'openldap']).default('active-directory'),
    /** One directory server; "" means none (then `urls` or `domain`). */
    url: ldapUrl.or(z.literal('')).optional(),
    /** Several servers, tried in this order when one does not answer. */
    urls: z.array(ldapUrl).max(20).optional(),
    /** DNS domain whose SRV records name the servers (_ldap._tcp.dc._msdcs.<domain> on AD). */
    domain: dnsName.optional(),
    /** AD site: its domain controllers are tried first (_ldap._tcp.<site>._sites.dc._msdcs.<domain>). */
    site: z.string().regex(/^[A-Za-z0-9][A-Za-z0-9-]{0,62}$/, 'must be an AD site name like Default-First-Site-Name').optional(),
    /** DNS servers for discovery and for the directory's host names (split-horizon networks, tests); default: the system's. */
    dnsServers: z.array(dnsServer).min(1).max(5).optional(),
    /** How long discovered servers are reused before DNS is asked again. */
    dnsCacheSeconds: z.number().int().min(0).max(86_400).default(300),
    /** A server that did not answer is tried only after the others for this long. */
    deadServerSeconds: z.number().int().min(0).max(3600).default(60),
    /** Upgrade an ldap:// connection with StartTLS before any bind. */
    startTls: z.boolean().default(false),
    /** PEM file with the CA that signed the directory's certificate. */
    caFile: z.string().min(1).optional(),
    /** Skip certificate verification. Insecure: only for a lab, and logged loudly. */
    insecureSkipVerify: z.boolean().default(false),
    /** Service account used to find users and read groups (DN, or user@domain on AD). */
    bindDn: z.string().min(1),
    baseDn: z.string().min(1),
    userBaseDn: z.string().min(1).optional(),
    groupBaseDn: z.string().min(1).optional(),
    /** Attribute holding the login name: sAMAccountName on AD, uid on OpenLDAP. */
    loginAttribute: z.string().regex(/^[A-Za-z][A-Za-z0-9-]*$/).optional(),
    /** Extra LDAP filter users must match, e.g. (objectClass=person). */
    userFilter: z.string().regex(/^\(.*\)$/, 'must be a parenthesized LDAP filter').optional(),
    /** AD: more suffixes after which name@suffix means the account name (the domain's own DNS name always does). */
    upnSuffixes: z.array(dnsName).max(50).default([]),
    /** AD: NetBIOS domains accepted in DOMAIN\name; empty accepts any. */
    netbiosDomains: z
      .array(z.string().regex(/^[A-Za-z0-9][A-Za-z0-9._-]{0,14}$/, 'must be a NetBIOS domain name like CORP'))
      .max(50)
      .default([]),
    /** AD: search the global catalog (3268/3269) for users and universal groups of every domain in the forest. */
    globalCatalog: z.boolean().default(false),
    groupStrategy: z.enum(groupStrategies).optional(),
    /** Attribute that names a group (and so the database role it maps to). */
    groupNameAttribute: z.string().default('cn'),
    /** Only groups whose name starts with this prefix are considered (e.g. "heimdall-"). */
    groupPrefix: z.string().default(''),
    /** Optional regular expression groups must also match. */
    groupPattern: z
      .string()
      .refine((p) => {
        try {
          new RegExp(p);
          return true;
        } catch {
          return false;
        }
      }, 'is not a valid regular expression')
      .optional(),
    maxNestingDepth: z.number().int().min(1).max(32).default(8),
    timeoutMs: z.number().int().min(100).max(120_000).default(5000),
    /** Warn at sign-in when the directory password expires within this many days; 0 never warns. */
    expiryWarningDays: z.number().int().min(0).max(365).default(7),
    /** OpenLDAP: the ppolicy entry for accounts without pwdPolicySubentry (slapd's ppolicy_default), for password expiry. */
    passwordPolicyDn: z.string().min(1).optional(),
    /** Bound service-account connections kept for searches. */
    serviceConnections: z.number().int().min(1).max(8).default(2),
    /** A service connection unused this long is closed. */
    serviceIdleSeconds: z.number().int().min(60).max(86_400).default(600),
  })
  .superRefine((d, ctx) => {
    if (staticDirectoryUrls(d).length === 0 && d.domain === undefined) {
      ctx.addIssue({ code: 'custom', path: ['url'], message: 'give the directory server (url), several (urls), or a domain to find them in DNS' });
    }
    if (d.site !== undefined && d.domain === undefined) {
      ctx.addIssue({ code: 'custom', path: ['site'], message: 'needs domain: sites are found through the domain\'s DNS records' });
    }
  })
  .transform((d) => {
    const urls = staticDirectoryUrls(d);
    return {
      ...d,
      /** The first configured server ("" when only `domain` is given): what lists and messages show. */
      url: urls[0] ?? '',
      /** Every configured server in order (`url` included). */
      urls,
      loginAttribute: d.loginAttribute ?? (d.kind === 'active-directory' ? 'sAMAccountName' : 'uid'),
      groupStrategy: d.groupStrategy ?? (d.kind === 'active-directory' ? 'ad-nested' : 'member-nested'),
    };
  });

export const databaseSchema = z.object({
  host: z.string().min(1),
  port: z.number().int().min(1).max(65535).default(5432),
  /** The database clients reach through this profile. */
  database: z.string().min(1),
  /** Other databases on the same server a client may name explicitly. */
  allowedDatabases: z.array(z.string().min(1)).default([]),
  sslmode: z.enum(sslModes).default('verify-full'),
  /** PEM CA bundle (e.g. the RDS global bundle) for verify-ca / verify-full. */
  caFile: z.string().min(1).optional(),
  /**
   * "direct": the proxy starts TLS at once, without the SSLRequest round trip
   * (PostgreSQL 17+); an older server is detected and reached the usual way.
   */
  sslnegotiation: z.enum(sslNegotiations).default('postgres'),
  /** The login that may only EXECUTE rolecall.sync_login (see sql/postgres). */
  syncUser: z.string().min(1).default('rolecall_sync'),
  syncPoolSize: z.number().int().min(1).max(10).default(2),
  connectTimeoutMs: z.number().int().min(100).max(120_000).default(10_000),
  /** Startup parameters sent upstream unless the client set them, e.g. default_transaction_read_only=on. */
  sessionDefaults: z
    .record(z.string().regex(/^[a-z_][a-z0-9_.]*$/, 'must be a PostgreSQL setting name'), z.string())
    .default({}),
});

export const listenSchema = z.object({
  host: z.string().min(1).default('127.0.0.1'),
  port: z.number().int().min(1).max(65535),
  maxClients: z.number().int().min(1).max(10_000).default(100),
  /** From accept to ReadyForQuery; after that the proxy sets no timeout of its own. */
  authTimeoutMs: z.number().int().min(1000).max(600_000).default(60_000),
  /** Local TLS: answer SSLRequest with S using a certificate generated on first use. */
  tls: z
    .object({
      enabled: z.boolean().default(false),
      certFile: z.string().min(1).optional(),
      keyFile: z.string().min(1).optional(),
    })
    .default({ enabled: false }),
});

export const cacheSchema = z.object({
  /** How long a successful directory check + sync is reused for the same login and password. */
  ttlSeconds: z.number().int().min(0).max(86_400).default(600),
  /** How long a rejected password is remembered, so retries cannot lock the AD account. */
  negativeTtlSeconds: z.number().int().min(0).max(3600).default(30),
  /** VALID UNTIL given to the synced password: it expires on its own if never refreshed. */
  passwordValidForSeconds: z.number().int().min(60).max(30 * 86_400).default(8 * 3600),
});

export const poolSchema = z.object({
  /**
   * How long a server connection is kept after its client left cleanly, for the
   * next client of the same login, password, database and parameters; 0 turns reuse off.
   * Every client is still authenticated first. A kept connection outlives a
   * password changed in the database behind Rolecall's back (as PgBouncer's do);
   * Rolecall's own revocation drains it.
   */
  idleSeconds: z.number().int().min(0).max(3600).default(30),
  maxIdlePerKey: z.number().int().min(0).max(100).default(4),
  /** Run before a kept connection is reused (PgBouncer's server_reset_query). */
  resetQuery: z.string().min(1).max(1000).default('DISCARD ALL'),
});

export const revalidateSchema = z.object({
  /** How often logins with open sessions are re-checked against the directory; 0 turns it off. */
  intervalSeconds: z.number().int().min(0).max(86_400).default(300),
});

/** A profile id: it names the keychain entries (direct mode) and the runtime status. */
export const profileIdSchema = z
  .string()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'use lowercase letters, digits and dashes (e.g. "hr-prod")');

/** Clients send their password to the proxy: beyond loopback only with local TLS. */
function requireTlsBeyondLoopback(listen: z.output<typeof listenSchema>, ctx: z.RefinementCtx): void {
  if (listen.host !== '127.0.0.1' && listen.host !== '::1' && listen.host !== 'localhost' && !listen.tls.enabled) {
    ctx.addIssue({
      code: 'custom',
      path: ['listen', 'tls', 'enabled'],
      message: 'must be true when listening beyond loopback: clients send their password to the proxy',
    });
  }
}

/**
 * Direct mode (the default; `mode` absent or "direct"): the laptop checks the
 * directory and syncs the roles itself, with the service-account and sync
 * passwords from the keychain.
 */
export const directProfileSchema = z
  .object({
    /** Absent means direct: config files written before team mode keep working unchanged. */
    mode: z.literal('direct').optional(),
    id: profileIdSchema,
    name: z.string().min(1).max(200),
    directory: directorySchema,
    database: databaseSchema,
    listen: listenSchema,
    cache: cacheSchema.default({ ttlSeconds: 600, negativeTtlSeconds: 30, passwordValidForSeconds: 8 * 3600 }),
    revalidate: revalidateSchema.default({ intervalSeconds: 300 }),
    pool: poolSchema.default({ idleSeconds: 30, maxIdlePerKey: 4, resetQuery: 'DISCARD ALL' }),
    /** Role names are case-sensitive in PostgreSQL; AD logins are not. */
    loginCase: z.enum(['lower', 'preserve']).default('lower'),
  })
  .superRefine((p, ctx) => {
    if (p.cache.passwordValidForSeconds <= p.cache.ttlSeconds) {
      ctx.addIssue({
        code: 'custom',
        path: ['cache', 'passwordValidForSeconds'],
        message: 'must be longer than cache.ttlSeconds, or cached logins would outlive their password',
      });
    }
    requireTlsBeyondLoopback(p.listen, ctx);
    requireTlsForDirect(p.database, ctx, ['database']);
  });

/** As libpq: direct TLS has no plaintext answer to fall back to, so it needs an sslmode that insists on TLS. */
export function requireTlsForDirect(
  db: { sslmode: SslMode; sslnegotiation?: SslNegotiation },
  ctx: z.RefinementCtx,
  path: (string | number)[],
): void {
  if (db.sslnegotiation === 'direct' && (db.sslmode === 'disable' || db.sslmode === 'prefer')) {
    ctx.addIssue({
      code: 'custom',
      path: [...path, 'sslnegotiation'],
      message: `"direct" needs sslmode require, verify-ca or verify-full (sslmode is ${db.sslmode})`,
    });
  }
}

/** An https:// URL of the team broker (a path prefix is allowed; no credentials, query or fragment). */
const brokerUrl = z.string().refine((u) => {
  try {
    const url = new URL(u);
    return url.protocol === 'https:' && url.username === '' && url.password === '' && url.search === '' && url.hash === '';
  } catch {
    return false;
  }
}, 'must be an https:// URL like https://rolecall-broker.corp.example.com (no credentials, query or fragment)');

/** The same URL however it was written: lowercase scheme and host, default port dropped, no trailing slash. */
export function normalizeBrokerUrl(u: string): string {
  const url = new URL(u);
  return `${url.protocol}//${url.host}${url.pathname.replace(/\/+$/, '')}`;
}

export const brokerSchema = z
  .strictObject({
    /** One or more replicas (or load balancers), tried in order when one does not answer. */
    urls: z.array(brokerUrl).min(1, 'give at least one broker URL').max(10),
    /** PEM CA bundle that signed the broker's certificate; default: the system's trusted CAs. */
    caFile: z.string().min(1).optional(),
    /** The database's id in the broker's catalog. */
    database: z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'a catalog database id: lower-case letters, digits and dashes'),
    /** TCP + TLS to one broker URL; beyond it the next URL is tried. */
    connectTimeoutMs: z.number().int().min(100).max(60_000).default(3000),
    /** One request to one broker URL, answer included (the broker asks the directory and the database meanwhile). */
    timeoutMs: z.number().int().min(500).max(120_000).default(15_000),
    /** A URL that did not answer is tried only after the others for this long. */
    deadUrlSeconds: z.number().int().min(0).max(3600).default(60),
  })
  .superRefine((b, ctx) => {
    const seen = new Map<string, number>();
    b.urls.forEach((u, i) => {
      const key = normalizeBrokerUrl(u);
      const first = seen.get(key);
      if (first !== undefined) ctx.addIssue({ code: 'custom', path: ['urls', i], message: `the same broker as urls.${first}` });
      else seen.set(key, i);
    });
  });

/** What the catalog says about the database: no sync login here, the broker syncs. */
export const brokerDatabaseSchema = databaseSchema.omit({ syncUser: true, syncPoolSize: true }).strict();

export const brokerCacheSchema = z.strictObject({
  /** A database password from the broker is reused until its window ends (renewAfter) minus this margin. */
  marginSeconds: z.number().int().min(0).max(3600).default(60),
  /** How long a rejected password is remembered, so retries cannot lock the directory account. */
  negativeTtlSeconds: z.number().int().min(0).max(3600).default(30),
});

/**
 * Team mode (`mode: "broker"`): the laptop sends the client's password to the
 * team's broker over TLS and logs in upstream with the short-lived database
 * password it answers. No directory or sync settings, and no secret at all:
 * the object is strict, so a directory section (or a sync login) left in a
 * broker profile is an error, not silently dropped.
 */
export const brokerProfileSchema = z
  .strictObject({
    mode: z.literal('broker'),
    id: profileIdSchema,
    name: z.string().min(1).max(200),
    broker: brokerSchema,
    database: brokerDatabaseSchema,
    listen: listenSchema,
    cache: brokerCacheSchema.default({ marginSeconds: 60, negativeTtlSeconds: 30 }),
    revalidate: revalidateSchema.default({ intervalSeconds: 300 }),
    pool: poolSchema.default({ idleSeconds: 30, maxIdlePerKey: 4, resetQuery: 'DISCARD ALL' }),
  })
  .superRefine((p, ctx) => {
    requireTlsBeyondLoopback(p.listen, ctx);
    requireTlsForDirect(p.database, ctx, ['database']);
  });

export const profileSchema = z.discriminatedUnion('mode', [directProfileSchema, brokerProfileSchema], {
  error: (issue) => (issue.code === 'invalid_union' ? 'must be "direct" (or left out) or "broker"' : undefined),
});

export const settingsSchema = z.object({
  historyRetentionDays: z.number().int().min(1).max(3650).default(90),
});

export const configSchema = z
  .object({
    version: z.literal(1),
    profiles: z.array(profileSchema).default([]),
    settings: settingsSchema.default({ historyRetentionDays: 90 }),
  })
  .superRefine((c, ctx) => {
    const ids = new Set<string>();
    const ports = new Map<string, string>();
    c.profiles.forEach((p, i) => {
      if (ids.has(p.id)) ctx.addIssue({ code: 'custom', path: ['profiles', i, 'id'], message: `duplicate profile id "${p.id}"` });
      ids.add(p.id);
      const key = `${p.listen.host}:${p.listen.port}`;
      const other = ports.get(key);
      if (other) {
        ctx.addIssue({
          code: 'custom',
          path: ['profiles', i, 'listen', 'port'],
          message: `port ${p.listen.port} is already used by profile "${other}"`,
        });
      }
      ports.set(key, p.id);
    });
  });

export type ProfileInput = z.input<typeof profileSchema>;
export type DirectProfileInput = z.input<typeof directProfileSchema>;
export type BrokerProfileInput = z.input<typeof brokerProfileSchema>;
/** A profile of either mode; narrow with isBrokerProfile() before using mode-specific sections. */
export type Profile = z.output<typeof profileSchema>;
export type DirectProfile = z.output<typeof directProfileSchema>;
export type BrokerProfile = z.output<typeof brokerProfileSchema>;
export type DirectoryConfig = DirectProfile['directory'];
export type DatabaseConfig = DirectProfile['database'];
/** The database settings both modes share (a broker profile's come from the catalog). */
export type DatabaseTarget = BrokerProfile['database'];
export type BrokerConfig = BrokerProfile['broker'];

export function isBrokerProfile(p: Profile): p is BrokerProfile {
  return p.mode === 'broker';
}
export type SslMode = (typeof sslModes)[number];
export type SslNegotiation = (typeof sslNegotiations)[number];
export type GroupStrategy = (typeof groupStrategies)[number];
export type Config = z.output<typeof configSchema>;
export type Settings = Config['settings'];

export { roleName as roleNameSchema };

/** Field-addressed validation errors: what the CLI prints and the UI shows next to a field. */
export interface FieldError {
  path: string;
  message: string;
}

export function toFieldErrors(error: z.ZodError): FieldError[] {
  return error.issues.map((i) => ({ path: i.path.map(String).join('.'), message: i.message }));
}
