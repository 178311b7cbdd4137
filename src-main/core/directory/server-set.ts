import type { Client } from 'ldapts';
import type { Logger } from '../log.js';
import { staticDirectoryUrls, type DirectoryConfig } from '../profiles/schema.js';
import { isServerFailure, openConnection, type ConnectContext } from './connection.js';
import { DnsDiscovery } from './discovery.js';
import { DirectoryError } from './errors.js';
import { ServerHealth } from './server-health.js';
import { serverFromUrl, uniqueServers, type DirectoryServer } from './servers.js';

export interface Connected {
  client: Client;
  server: DirectoryServer;
}

/**
 * Every server the profile can use, in the order to try them: discovered ones
 * first (when it names a domain), then its URLs; servers that just failed
 * after the others. `connect()` walks that order until one answers, giving
 * each at most timeoutMs, and says "unreachable" only when none did.
 */
export class ServerSet {
  readonly health: ServerHealth;
  readonly discovery: DnsDiscovery;
  private readonly configured: DirectoryServer[];
  private lastKnown: DirectoryServer[];

  constructor(
    private readonly config: DirectoryConfig,
    private readonly logger: Logger,
    now: () => number = Date.now,
  ) {
    this.health = new ServerHealth(config.deadServerSeconds * 1000, now);
    this.discovery = new DnsDiscovery(config, logger, now);
    this.configured = staticDirectoryUrls(config).map((u) => serverFromUrl(u, config));
    this.lastKnown = this.configured;
  }

  /** Discovered + configured servers (DNS failing is fine while the profile has URLs of its own). */
  async all(): Promise<DirectoryServer[]> {
    let discovered: DirectoryServer[] = [];
    try {
      discovered = await this.discovery.servers();
    } catch (e) {
      if (this.configured.length === 0) throw e;
      this.logger.warn({ error: (e as Error).message }, 'directory discovery failed; using the configured servers');
    }
    this.lastKnown = uniqueServers([...discovered, ...this.configured]);
    return this.lastKnown;
  }

  /** The servers as last listed, without asking DNS: for reports. */
  known(): DirectoryServer[] {
    return this.lastKnown;
  }

  /**
   * Opens a connection on the first server that answers, `prefer` first when
   * given (the user's bind goes where their account was just found).
   */
  async connect(
    ctx: ConnectContext,
    what: string,
    bind: (client: Client, server: DirectoryServer) => Promise<void>,
    prefer?: DirectoryServer,
  ): Promise<Connected> {
    const ordered = this.health.order(await this.all());
    const servers = prefer === undefined ? ordered : [prefer, ...ordered.filter((s) => s.url !== prefer.url)];
    const failures: DirectoryError[] = [];
    for (const server of servers) {
      try {
        const client = await openConnection(server, ctx, what, bind);
        this.health.up(server);
        return { client, server };
      } catch (e) {
        if (!isServerFailure(e)) throw e;
        this.markDown(server, e as DirectoryError);
        failures.push(e as DirectoryError);
      }
    }
    if (failures.length === 1) throw failures[0] as DirectoryError;
    if (failures.length === 0) throw new DirectoryError('misconfigured', 'no directory server is configured');
    const kind = failures.every((f) => f.failure === 'timeout') ? 'timeout' : 'unreachable';
    throw new DirectoryError(kind, `none of ${failures.length} directory servers answered: ${failures.map((f) => f.message).join('; ')}`);
  }

  markDown(server: DirectoryServer, e: DirectoryError): void {
    this.health.down(server, e.message);
    this.logger.warn({ server: server.url, failure: e.failure, error: e.message }, 'directory server did not answer; trying the others first for a while');
  }
}
