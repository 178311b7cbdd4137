import { EventEmitter } from 'node:events';
import type { Logger } from './log.js';
import { silentLogger } from './log.js';
import type { DatabaseConfig, Profile } from './profiles/schema.js';
import type { SecretStore } from './secrets/secret-store.js';
import { createDirectory } from './directory/index.js';
import { SyncClient, type SyncTarget } from './sync/sync-client.js';
import {
  ProfileProxy,
  type ConnectionEvent,
  type HistorySink,
  type ProxyDirectory,
  type ProxyStatus,
  type ProxySync,
} from './proxy/profile-proxy.js';

export interface ServiceOptions {
  secrets: SecretStore;
  logger?: Logger;
  history?: HistorySink;
  /** Folder for the generated local TLS certificate. */
  tlsDir: string;
  /** Test seams: build the directory and sync clients differently (the demo and unit tests). */
  directoryFor?: (profile: Profile, bindPassword: string) => ProxyDirectory;
  syncFor?: (profile: Profile, syncPassword: string) => ProxySync;
}

/** A profile could not start; the message says what to fix. */
export class StartError extends Error {
  constructor(
    message: string,
    readonly profileId: string,
    options?: { cause?: unknown },
  ) {
    super(message, options);
    this.name = 'StartError';
  }
}

export interface ServiceEvents {
  status: [ProxyStatus];
  connection: [ConnectionEvent];
}

/**
 * Starts and stops one proxy per profile and fans their status and connection
 * events out to whoever hosts the engine (the CLI, the Electron main process).
 */
export class ProxyService extends EventEmitter<ServiceEvents> {
  private readonly proxies = new Map<string, ProfileProxy>();
  private readonly logger: Logger;

  constructor(private readonly options: ServiceOptions) {
    super();
    this.logger = options.logger ?? silentLogger;
  }

  async start(profile: Profile): Promise<ProxyStatus> {
    const existing = this.proxies.get(profile.id);
    if (existing) {
      if (existing.status().state === 'running') return existing.status();
      this.proxies.delete(profile.id);
    }
    const bindPassword = await this.secret(profile, 'ldap-bind');
    const syncPassword = await this.secret(profile, 'sync');
    const directory = this.options.directoryFor?.(profile, bindPassword) ?? createDirectory(profile.directory, bindPassword, this.logger);
    const sync = this.options.syncFor?.(profile, syncPassword) ?? new SyncClient(syncTarget(profile.database, syncPassword), this.logger);
    const proxy = new ProfileProxy(profile, {
      directory,
      sync,
      logger: this.logger,
      tlsDir: this.options.tlsDir,
      ...(this.options.history ? { history: this.options.history } : {}),
    });
    proxy.on('status', (s: ProxyStatus) => this.emit('status', s));
    proxy.on('connection', (e: ConnectionEvent) => this.emit('connection', e));
    this.proxies.set(profile.id, proxy);
    try {
      await proxy.start();
    } catch (e) {
      await Promise.allSettled([directory.close(), sync.close()]);
      throw new StartError(e instanceof Error ? e.message : String(e), profile.id, { cause: e });
    }
    return proxy.status();
  }

  async stop(profileId: string, graceMs?: number): Promise<void> {
    const proxy = this.proxies.get(profileId);
    if (!proxy) return;
    await proxy.stop(graceMs);
    this.proxies.delete(profileId);
    this.emit('status', proxy.status());
  }

  async stopAll(graceMs?: number): Promise<void> {
    await Promise.all([...this.proxies.keys()].map((id) => this.stop(id, graceMs)));
  }

  get(profileId: string): ProfileProxy | undefined {
    return this.proxies.get(profileId);
  }

  status(): ProxyStatus[] {
    return [...this.proxies.values()].map((p) => p.status());
  }

  private async secret(profile: Profile, name: 'ldap-bind' | 'sync'): Promise<string> {
    const what = name === 'ldap-bind' ? 'directory service-account password' : 'sync-account password';
    const env = name === 'ldap-bind' ? 'ROLECALL_LDAP_BIND_PASSWORD' : 'ROLECALL_SYNC_PASSWORD';
    let value: string | null;
    try {
      value = await this.options.secrets.get(profile.id, name);
    } catch (e) {
      throw new StartError(
        `cannot read the ${what} of profile "${profile.id}": ${e instanceof Error ? e.message : String(e)}. Unlock the OS keychain, or set ${env} for headless use`,
        profile.id,
        { cause: e },
      );
    }
    if (value) return value;
    throw new StartError(
      `profile "${profile.id}" has no ${what}: run \`rolecall secrets set ${profile.id} ${name}\` (stored in the OS keychain) or set ${env}`,
      profile.id,
    );
  }
}

/** How the sync pool reaches the profile's database as the sync account. */
export function syncTarget(db: DatabaseConfig, password: string): SyncTarget {
  return {
    host: db.host,
    port: db.port,
    database: db.database,
    sslmode: db.sslmode,
    ...(db.caFile ? { caFile: db.caFile } : {}),
    user: db.syncUser,
    password,
    poolSize: db.syncPoolSize,
    connectTimeoutMs: db.connectTimeoutMs,
  };
}
