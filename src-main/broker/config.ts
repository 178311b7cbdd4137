import { readFile } from 'node:fs/promises';
import { z } from 'zod';
import { looksLikeSecretKey } from '../core/profiles/secret-keys.js';
import { databaseSchema, directorySchema, requireTlsForDirect, toFieldErrors, type FieldError } from '../core/profiles/schema.js';
import { SECRET_VARS } from './secrets.js';

/*
 * broker.json: what the team broker serves and how. One schema, strict: an
 * unknown key is an error naming it, never silently dropped (a typo must not
 * quietly keep a default). Secrets are never part of it (see secrets.ts);
 * a key that looks like one is refused with the variable to use instead.
 */

const databaseId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'use lowercase letters, digits and dashes (e.g. "hr-prod")');

const tlsSchema = z
  .strictObject({
    /** PEM certificate chain the broker presents. */
    certFile: z.string().min(1),
    keyFile: z.string().min(1),
    /** PEM CA bundle that signs device (client) certificates; a presented certificate must then verify. */
    clientCaFile: z.string().min(1).optional(),
    /** Refuse every connection without a valid client certificate. Needs clientCaFile. */
    requireClientCert: z.boolean().default(false),
  })
  .superRefine((t, ctx) => {
    if (t.requireClientCert && t.clientCaFile === undefined) {
      ctx.addIssue({ code: 'custom', path: ['clientCaFile'], message: 'needed when requireClientCert is true: the CA that signs device certificates' });
    }
  });

const listenSchema = z.strictObject({
  host: z.string().min(1).default('0.0.0.0'),
  /** 0: any free port (the ready line says which). */
  port: z.number().int().min(0).max(65535).default(8443),
  tls: tlsSchema,
  /** Load balancers (addresses or CIDRs) whose X-Forwarded-For names the client, for the rate limit and the audit. */
  trustProxy: z.array(z.string().min(1)).max(50).optional(),
  /** Open connections beyond this are closed at once. */
  maxConnections: z.number().int().min(1).max(100_000).default(1024),
  /** Open connections from one address beyond this are closed at once (behind a load balancer: at least maxConnections). */
  maxConnectionsPerAddress: z.number().int().min(1).max(100_000).default(64),
  /** A request (headers and body) must arrive within this, or its connection is closed. */
  requestTimeoutMs: z.number().int().min(1000).max(120_000).default(10_000),
  /** An idle kept-alive connection is closed after this. */
  keepAliveTimeoutMs: z.number().int().min(1000).max(120_000).default(5000),
  /** At SIGTERM: how long in-flight requests get to finish. */
  drainSeconds: z.number().int().min(0).max(300).default(10),
});

const brokerDatabaseSchema = databaseSchema
  .pick({ host: true, port: true, database: true, sslmode: true, sslnegotiation: true, caFile: true, sessionDefaults: true, connectTimeoutMs: true })
  .extend({
    /** Names the database in the API and on laptops (their profile id). */
    id: databaseId,
    name: z.string().min(1).max(200),
    /** The database Rolecall's SQL is installed in, where the broker syncs logins (default: `database`). */
    syncDatabase: z.string().min(1).optional(),
    /** The local port a laptop's profile suggests for this database. */
    suggestedLocalPort: z.number().int().min(1024).max(65535),
    /** Names the server in the derived password (default host:port). Databases of one server must share it: roles are server-wide. */
    serverId: z.string().min(1).max(255).optional(),
    /** Override the directory's group filter for this database. */
    groupPrefix: z.string().optional(),
    groupPattern: directorySchema.in.shape.groupPattern,
  })
  .strict()
  .transform((d) => ({ ...d, serverId: d.serverId ?? `${d.host}:${d.port}`, syncDatabase: d.syncDatabase ?? d.database }));

const credentialsSchema = z.strictObject({
  /** One password per login and server per window; under 300 only for tests. */
  windowSeconds: z.number().int().min(5).max(86_400).default(3600),
  /** A password stays valid this long after its window ends (VALID UNTIL = window end + grace). */
  graceSeconds: z.number().int().min(0).max(86_400).default(900),
});

const throttleSchema = z.strictObject({
  /** After a wrong password, the login is held this long: no directory bind, on any replica. */
  holdSeconds: z.number().int().min(1).max(3600).default(30),
  /** The database whose rolecall.signin_throttle every replica shares (default: the first in `databases`). */
  database: databaseId.optional(),
});

const rateLimitSchema = z.strictObject({
  perAddressPerMinute: z.number().int().min(1).max(100_000).default(60),
});

const sweepSchema = z.strictObject({
  /** How often one replica reconciles every managed login with the directory; 0 turns the sweep off. */
  intervalSeconds: z.number().int().min(0).max(1800).default(300),
});

const syncSchema = z.strictObject({
  user: z.string().min(1).default('rolecall_broker'),
  /** Each sign-in holds one connection of the throttle database's pool while the directory checks the password. */
  poolSize: z.number().int().min(1).max(20).default(8),
});

/**
 * Prometheus /metrics on a listener of its own (plain HTTP: it carries no
 * secret, and its port can be firewalled apart from the API's). Absent: no
 * metrics listener. Loopback by default; a scraper elsewhere needs host set.
 */
const metricsSchema = z.strictObject({
  host: z.string().min(1).default('127.0.0.1'),
  /** 0: any free port (the ready line says which). */
  port: z.number().int().min(0).max(65535).default(9464),
});

const DIRECTORY_KEYS = new Set(Object.keys(directorySchema.in.shape));

export const brokerConfigSchema = z
  .strictObject({
    version: z.literal(1),
    listen: listenSchema,
    directory: directorySchema,
    databases: z.array(brokerDatabaseSchema).min(1).max(100),
    credentials: credentialsSchema.prefault({}),
    throttle: throttleSchema.prefault({}),
    rateLimit: rateLimitSchema.prefault({}),
    sweep: sweepSchema.prefault({}),
    sync: syncSchema.prefault({}),
    metrics: metricsSchema.optional(),
    /** Database login = directory name lowercased (`preserve` keeps its case). */
    loginCase: z.enum(['lower', 'preserve']).default('lower'),
  })
  .superRefine((c, ctx) => {
    const seen = new Map<string, number>();
    const ports = new Map<number, string>();
    c.databases.forEach((d, i) => {
      if (seen.has(d.id)) ctx.addIssue({ code: 'custom', path: ['databases', i, 'id'], message: `duplicate database id "${d.id}"` });
      seen.set(d.id, i);
      requireTlsForDirect(d, ctx, ['databases', i]);
      const other = ports.get(d.suggestedLocalPort);
      if (other !== undefined) {
        ctx.addIssue({ code: 'custom', path: ['databases', i, 'suggestedLocalPort'], message: `port ${d.suggestedLocalPort} is already suggested for "${other}"` });
      }
      ports.set(d.suggestedLocalPort, d.id);
    });
    if (c.metrics !== undefined && c.metrics.port !== 0 && c.metrics.port === c.listen.port) {
      ctx.addIssue({ code: 'custom', path: ['metrics', 'port'], message: `port ${c.metrics.port} is the API's (listen.port): metrics need a port of their own` });
    }
    if (c.throttle.database !== undefined && !seen.has(c.throttle.database)) {
      ctx.addIssue({ code: 'custom', path: ['throttle', 'database'], message: `no database with id "${c.throttle.database}" in databases` });
    }
  });

export type BrokerConfigInput = z.input<typeof brokerConfigSchema>;
export type BrokerConfig = z.output<typeof brokerConfigSchema>;
export type BrokerDatabase = BrokerConfig['databases'][number];

/** The files a config names, read once at start: TLS material and CA bundles. */
export interface BrokerFiles {
  cert: Buffer;
  key: Buffer;
  clientCa?: Buffer;
  /** CA bundle (PEM) per database id, for the catalog and the sync pool. */
  databaseCa: Map<string, string>;
}

export type LoadResult = { ok: true; config: BrokerConfig; files: BrokerFiles } | { ok: false; errors: FieldError[] };

/** Parses broker.json's text: JSON, no secrets, the schema; every error names its field. */
export function parseBrokerConfig(text: string): { ok: true; config: BrokerConfig } | { ok: false; errors: FieldError[] } {
  let raw: unknown;
  try {
    raw = JSON.parse(text);
  } catch (e) {
    return { ok: false, errors: [{ path: '', message: `not valid JSON: ${(e as Error).message}` }] };
  }
  const errors = [...secretKeys(raw), ...unknownDirectoryKeys(raw)];
  const parsed = brokerConfigSchema.safeParse(raw);
  if (!parsed.success) errors.push(...toFieldErrors(parsed.error).filter((e) => !errors.some((s) => s.path === e.path)));
  if (errors.length > 0 || !parsed.success) return { ok: false, errors };
  return { ok: true, config: parsed.data };
}

/** Reads, parses and checks broker.json and the files it names. */
export async function loadBrokerConfig(file: string): Promise<LoadResult> {
  let text: string;
  try {
    text = await readFile(file, 'utf8');
  } catch (e) {
    return { ok: false, errors: [{ path: '', message: `cannot read ${file}: ${(e as Error).message}` }] };
  }
  const parsed = parseBrokerConfig(text);
  return parsed.ok ? readBrokerFiles(parsed.config) : parsed;
}

/** Reads the files a parsed config names (TLS material, CA bundles), naming the field of each one it cannot read. */
export async function readBrokerFiles(config: BrokerConfig): Promise<LoadResult> {
  const errors: FieldError[] = [];
  const read = async (path: string, name: string | undefined): Promise<Buffer | undefined> => {
    if (name === undefined) return undefined;
    try {
      return await readFile(name);
    } catch (e) {
      errors.push({ path, message: `cannot read ${name}: ${(e as NodeJS.ErrnoException).code ?? (e as Error).message}` });
      return undefined;
    }
  };
  const cert = await read('listen.tls.certFile', config.listen.tls.certFile);
  const key = await read('listen.tls.keyFile', config.listen.tls.keyFile);
  const clientCa = await read('listen.tls.clientCaFile', config.listen.tls.clientCaFile);
  await read('directory.caFile', config.directory.caFile);
  const databaseCa = new Map<string, string>();
  for (const [i, d] of config.databases.entries()) {
    const pem = await read(`databases.${i}.caFile`, d.caFile);
    if (pem !== undefined) databaseCa.set(d.id, pem.toString('utf8'));
  }
  if (errors.length > 0 || cert === undefined || key === undefined) return { ok: false, errors };
  return { ok: true, config, files: { cert, key, ...(clientCa === undefined ? {} : { clientCa }), databaseCa } };
}

/** The profile schema strips unknown directory keys; the broker's config refuses them like every other unknown key. */
function unknownDirectoryKeys(raw: unknown): FieldError[] {
  const directory = (raw as { directory?: unknown } | null)?.directory;
  if (directory === null || typeof directory !== 'object' || Array.isArray(directory)) return [];
  return Object.keys(directory)
    .filter((k) => !DIRECTORY_KEYS.has(k) && !looksLikeSecretKey(k))
    .map((k) => ({ path: `directory.${k}`, message: `unknown setting "${k}"` }));
}

/** Keys that look like secrets, wherever they are (the `credentials` block is settings: it holds none). */
function secretKeys(raw: unknown): FieldError[] {
  const errors: FieldError[] = [];
  const walk = (value: unknown, at: string[]): void => {
    if (Array.isArray(value)) {
      value.forEach((v, i) => walk(v, [...at, String(i)]));
      return;
    }
    if (value === null || typeof value !== 'object') return;
    for (const [k, child] of Object.entries(value)) {
      const here = [...at, k];
      const exempt = here.length === 1 && k === 'credentials';
      if (!exempt && (looksLikeSecretKey(k) || /(^key|token|privatekey|credentialkey)$/i.test(k.replace(/[-_]/g, '')))) {
        errors.push({ path: here.join('.'), message: `secrets never go in broker.json: ${secretHome(here)}; remove this key` });
      } else {
        walk(child, here);
      }
    }
  };
  walk(raw, []);
  return errors;
}

function secretHome(at: string[]): string {
  if (at[0] === 'directory') return `set ${SECRET_VARS.bindPassword} (or ${SECRET_VARS.bindPassword}_FILE)`;
  if (at[0] === 'databases' || at[0] === 'sync') return `set ${SECRET_VARS.syncPassword} (or ${SECRET_VARS.syncPassword}_FILE)`;
  return `set ${SECRET_VARS.credentialKey} (or ${SECRET_VARS.credentialKey}_FILE)`;
}
