import { z } from 'zod';
import type { FieldError, Profile, ProfileInput, Settings } from '../core/profiles/schema.js';
import type { ServersReport } from '../core/diagnostics/directory-servers.js';
import type { ConnectionEvent } from '../core/proxy/profile-proxy.js';
import type { CertificateFacts } from '../core/broker-client/peer-certificate.js';
import type { ServiceStatus } from '../core/service.js';
import type { ConnectionRecord, SummaryBucket } from '../core/history/record.js';

/**
 * The renderer's whole view of the app: typed request/response channels and
 * two event streams. Electron's IPC (through the preload) and the web bridge
 * used by browser tests serve exactly this contract, with the same handlers.
 * Secret values travel only renderer → main (secrets.set, setup passwords),
 * never back.
 */

export type IpcErrorCode = 'invalid' | 'not-found' | 'conflict' | 'unavailable' | 'refused' | 'failed';

export interface IpcError {
  code: IpcErrorCode;
  message: string;
  /** Field-addressed problems, shown next to the field that caused them (paths like "database.port"). */
  fields?: FieldError[];
  /** A precise code from below (SQLSTATE, LDAP failure, errno) when there is one. */
  detail?: string;
}

export type IpcResult<T> = { ok: true; value: T } | { ok: false; error: IpcError };

/**
 * What saving a profile (or one of its secrets) did to its running proxy, for
 * the UI to say. 'restart-pending': clients were connected, so the proxy keeps
 * the old settings (status.pendingRestart) until proxies.restart.
 * 'restart-failed': the old proxy was stopped and the new settings did not
 * start; the proxy is down and `error` says why (fields as for proxies.start).
 */
export type ApplyOutcome =
  | { outcome: 'not-running' }
  | { outcome: 'unchanged' }
  | { outcome: 'restarted'; port: number; previousPort: number }
  | { outcome: 'restart-pending'; port: number; activeConnections: number }
  | { outcome: 'restart-failed'; error: IpcError };

/** profiles.save answers with the saved profile (as stored) and what happened to its running proxy. */
export type SavedProfile = Profile & { applied: ApplyOutcome };

/** A proxy's status as the renderer sees it (ProxyStatus + pendingRestart). */
export type { ServiceStatus };

export interface ProfileSummary {
  id: string;
  name: string;
  /** direct: this machine checks the directory and syncs (it needs the two secrets); broker: the team's broker does (no secret). */
  mode: 'direct' | 'broker';
  port: number;
  database: string;
  databaseHost: string;
  /** Direct mode's first configured directory server ("" for a broker profile, and when DNS finds them). */
  directoryUrl: string;
  /** Direct mode's directory servers in words (`corp.example.com (DNS), ldaps://dc9…`; "" for a broker profile): what lists show. */
  directoryServers: string;
  /** Team mode's broker URLs ([] for a direct profile). */
  brokerUrls: string[];
  /** Direct mode: whether each secret is stored (always false for a broker profile, which has none). */
  secrets: { ldapBind: boolean; sync: boolean };
}

export interface DirectoryTestResult {
  ok: boolean;
  /** Each step with its outcome: connect, service bind, base DN, user bind, groups. */
  steps: { step: string; ok: boolean; message: string }[];
  /** The DNS queries and the servers found, in the order a sign-in tries them, and which answered. */
  servers: ServersReport;
  login?: string;
  groups?: string[];
  permittedGroups?: string[];
}

export interface DatabaseTestResult {
  ok: boolean;
  steps: { step: string; ok: boolean; message: string }[];
  serverVersion?: string;
  tls?: boolean;
  /** Version of the installed rolecall schema, null when not installed. */
  installedVersion?: string | null;
}

export interface AccessCheckResult {
  login: string;
  /** All directory groups, nested ones included. */
  groups: string[];
  /** Those that pass the profile's prefix/pattern. */
  permittedGroups: string[];
  /** What a sync would do (rolecall.preview_sync), changing nothing. */
  preview: { wouldCreate: boolean; grant: string[]; revoke: string[]; roles: string[]; denied: boolean; refusal: string | null } | null;
  verdict: string;
}

/** A certificate as the "Connect to your team" page shows it before the user trusts it (its fingerprint is what to compare). */
export type CertificateInfo = Omit<CertificateFacts, 'pem'>;

/** team.inspect: what the broker's URL presents over TLS, read without trusting it (nothing is sent). */
export interface BrokerInspection {
  /** The URL as profiles will store it (normalized). */
  url: string;
  /** The certificate verified (chain and host name) against Node's trusted roots, or the CA file given. */
  verified: boolean;
  verifiedBy: 'system' | 'ca-file' | null;
  /** Why it did not verify. */
  problem: string | null;
  /** The broker's certificate first, then its issuers as it sent them. */
  chain: CertificateInfo[];
  /** The certificates of the CA file given, as read. */
  caFile: CertificateInfo[] | null;
  /**
   * What "Trust" would store as the profiles' CA: the CA file's first
   * certificate when it verifies the broker, else the top of the presented
   * chain when it is self-signed; null when nothing shown here can make it
   * verify (then the team's CA file is needed).
   */
  trustable: CertificateInfo | null;
}

/** One database of the broker's catalog, as the app offers it. */
export interface CatalogChoice {
  id: string;
  name: string;
  host: string;
  port: number;
  database: string;
  sslmode: string;
  sessionDefaults: Record<string, string>;
  suggestedLocalPort: number;
  /** new; present: a broker profile with this id exists (adding it again refreshes it and keeps its port); conflict: a direct profile has this id. */
  state: 'new' | 'present' | 'conflict';
  /** The local port it gets: its profile's when present, else the suggestion when free, else the next free one. */
  localPort: number;
  /** Who holds the suggested port (free: true when nobody). */
  suggestedPort: PortCheck;
}

/** team.catalog: the databases the broker serves to this user; the password was used for this one request. */
export interface TeamCatalog {
  /** Names this answer for team.add (kept in the main process for a few minutes; it holds no secret). */
  catalogId: string;
  brokerUrls: string[];
  caFile: string | null;
  databases: CatalogChoice[];
  /** This broker's profiles whose database the broker no longer serves. */
  gone: { profileId: string; name: string; database: string }[];
}

export interface TeamAddResult {
  profiles: { id: string; status: 'new' | 'updated'; port: number; applied: ApplyOutcome }[];
}

export interface ClientStrings {
  psql: string;
  libpq: string;
  jdbc: string;
  pgService: string;
}

export interface PortCheck {
  port: number;
  free: boolean;
  owner: string | null;
  nextFree: number | null;
}

export interface AppInfo {
  version: string;
  platform: string;
  keychain: { backend: string; available: boolean; message: string };
  configPath: string;
}

export const historyQuerySchema = z.object({
  profileId: z.string().optional(),
  login: z.string().optional(),
  outcome: z.enum(['success', 'denied', 'error', 'aborted']).optional(),
  since: z.number().optional(),
  until: z.number().optional(),
  limit: z.number().int().min(1).max(10_000).optional(),
  offset: z.number().int().min(0).optional(),
  order: z.enum(['newest', 'oldest']).optional(),
});
export type HistoryQueryInput = z.infer<typeof historyQuerySchema>;

const profileId = z.string().regex(/^[a-z0-9][a-z0-9-]{0,62}$/);
const secretName = z.enum(['ldap-bind', 'sync']);
const adminCredentials = z.object({ profileId, adminUser: z.string().min(1), adminPassword: z.string().min(1) });

/** Request schemas: every handler validates its input with these before doing anything. */
export const requestSchemas = {
  'profiles.list': z.object({}),
  'profiles.get': z.object({ id: profileId }),
  'profiles.save': z.object({ profile: z.unknown(), previousId: profileId.optional() }),
  'profiles.delete': z.object({ id: profileId }),
  'profiles.duplicate': z.object({ id: profileId, newId: profileId }),
  'profiles.import': z.object({ json: z.string().max(5_000_000) }),
  'profiles.export': z.object({ ids: z.array(profileId).optional() }),
  'profiles.validate': z.object({ profile: z.unknown() }),
  'secrets.set': z.object({ profileId, name: secretName, value: z.string().min(1).max(4096) }),
  'secrets.has': z.object({ profileId }),
  'secrets.delete': z.object({ profileId, name: secretName }),
  'proxies.start': z.object({ id: profileId }),
  'proxies.stop': z.object({ id: profileId }),
  'proxies.status': z.object({}),
  /** Stop (sessions get the usual grace) and start again with the saved profile: applies a pending change. */
  'proxies.restart': z.object({ id: profileId }),
  'diagnostics.testDirectory': z.object({ profile: z.unknown(), login: z.string().optional(), password: z.string().optional() }),
  'diagnostics.testDatabase': z.object({ profile: z.unknown() }),
  /** subject: a broker profile explains another login's access (the caller's own password is checked first). */
  'diagnostics.accessCheck': z.object({ profileId, login: z.string().min(1), password: z.string().optional(), subject: z.string().min(1).max(256).optional() }),
  'setup.installSql': z.object({}),
  'setup.install': adminCredentials,
  'setup.createSyncLogin': adminCredentials,
  'history.query': historyQuerySchema,
  'history.summary': z.object({
    since: z.number(),
    until: z.number().optional(),
    bucketMs: z.number().int().min(1000),
    profileId: z.string().optional(),
  }),
  'history.exportCsv': historyQuerySchema,
  'history.clear': z.object({}),
  'settings.get': z.object({}),
  'settings.set': z.object({ settings: z.unknown() }),
  'clients.strings': z.object({ profileId, login: z.string().optional() }),
  'clients.writePgService': z.object({ profileId, login: z.string().optional() }),
  'clients.checkPort': z.object({ port: z.number().int().min(1).max(65535), exceptProfileId: z.string().optional() }),
  'app.info': z.object({}),
  /** Connect to your team: read the broker's certificate (nothing is sent), with the team's CA file when it uses a private CA. */
  'team.inspect': z.object({ url: z.string().min(1).max(2000), caFile: z.string().min(1).optional() }),
  /** Store the certificate the user was shown (by fingerprint) as the broker's CA beside the config. */
  'team.trust': z.object({ url: z.string().min(1).max(2000), fingerprint256: z.string().regex(/^([0-9A-F]{2}:){31}[0-9A-F]{2}$/), caFile: z.string().min(1).optional() }),
  /** Sign in to the broker's catalog with the user's directory password (used for this request only, never stored). */
  'team.catalog': z.object({
    broker: z.union([z.object({ profileId }), z.object({ urls: z.array(z.string().min(1)).min(1).max(10), caFile: z.string().min(1).optional() })]),
    login: z.string().min(1).max(256),
    password: z.string().min(1).max(1024),
  }),
  /** Broker profiles for the chosen databases of a catalog answer, on the chosen local ports. */
  'team.add': z.object({
    catalogId: z.string().min(1).max(100),
    databases: z.array(z.object({ id: z.string().min(1), port: z.number().int().min(1024).max(65535) })).min(1).max(100),
  }),
} as const;

export type Channel = keyof typeof requestSchemas;
export type Request<C extends Channel> = z.input<(typeof requestSchemas)[C]>;

/** What each channel answers with (inside IpcResult). */
export interface Responses {
  'profiles.list': ProfileSummary[];
  'profiles.get': Profile;
  'profiles.save': SavedProfile;
  'profiles.delete': { deleted: boolean };
  'profiles.duplicate': Profile;
  'profiles.import': { imported: string[] };
  'profiles.export': { json: string };
  'profiles.validate': { profile: Profile };
  /** applied: what storing the secret did to the profile's running proxy (a changed password counts as a change). */
  'secrets.set': { stored: true; backend: string; applied: ApplyOutcome };
  'secrets.has': { ldapBind: boolean; sync: boolean };
  'secrets.delete': { deleted: boolean };
  'proxies.start': ServiceStatus;
  'proxies.stop': ServiceStatus | null;
  'proxies.status': ServiceStatus[];
  'proxies.restart': ServiceStatus;
  'diagnostics.testDirectory': DirectoryTestResult;
  'diagnostics.testDatabase': DatabaseTestResult;
  'diagnostics.accessCheck': AccessCheckResult;
  'setup.installSql': { sql: string; creates: string[] };
  'setup.install': { installedVersion: string };
  /** applied: the running proxy's sync account now has a new password, so it restarts (or waits for its clients). */
  'setup.createSyncLogin': { login: string; stored: true; applied: ApplyOutcome };
  'history.query': { rows: ConnectionRecord[]; total: number };
  'history.summary': SummaryBucket[];
  'history.exportCsv': { csv: string; rows: number };
  'history.clear': { cleared: true };
  'settings.get': Settings;
  'settings.set': Settings;
  'clients.strings': ClientStrings;
  'clients.writePgService': { file: string; service: string };
  'clients.checkPort': PortCheck;
  'app.info': AppInfo;
  'team.inspect': BrokerInspection;
  'team.trust': { caFile: string; certificate: CertificateInfo };
  'team.catalog': TeamCatalog;
  'team.add': TeamAddResult;
}

/** Events pushed main → renderer. */
export interface Events {
  'proxies.status': ServiceStatus;
  'proxies.connection': ConnectionEvent;
}
export type EventName = keyof Events;

/** What the preload exposes as `window.rolecall`, and the web bridge mimics. */
export interface RolecallBridge {
  invoke<C extends Channel>(channel: C, request: Request<C>): Promise<IpcResult<Responses[C]>>;
  on<E extends EventName>(event: E, listener: (payload: Events[E]) => void): () => void;
}

export const channels = Object.keys(requestSchemas) as Channel[];
export type { ProfileInput };
