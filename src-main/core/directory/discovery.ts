import { promises as dns } from 'node:dns';
import net from 'node:net';
import type { Logger } from '../log.js';
import type { DirectoryConfig } from '../profiles/schema.js';
import { DirectoryError } from './errors.js';
import { GC_TLS_PORT, makeServer, uniqueServers, type DirectoryServer } from './servers.js';
import { orderSrvRecords, type SrvRecord } from './srv-order.js';

const LDAPS_PORT = 636;

/** One DNS name asked, and what came back. */
export interface DnsQueryReport {
  name: string;
  /** Targets found (after dropping "."), in the order they are tried. */
  found: string[];
  error?: string;
}

export interface DiscoveryReport {
  domain: string;
  site?: string;
  /** The DNS servers asked; "system" when the profile names none. */
  dnsServers: string[];
  queries: DnsQueryReport[];
  /** When the answer was fetched; undefined until the first sign-in, test or probe. */
  resolvedAt?: Date;
  /** Why the last lookup failed, when it did (older servers may still be in use). */
  error?: string;
}

type DiscoveryConfig = Pick<DirectoryConfig, 'kind' | 'domain' | 'site' | 'dnsServers' | 'dnsCacheSeconds' | 'startTls' | 'globalCatalog' | 'timeoutMs'>;

/** A failed lookup is asked again after this long even when dnsCacheSeconds is longer. */
const RETRY_FAILED_MS = 30_000;

/**
 * The record sets to ask, most specific first, and how their targets are
 * reached. Encrypted from the first byte unless the profile asks for StartTLS.
 * ldaps: `_ldaps._tcp` where published (its port), otherwise the LDAP records'
 * hosts on 636 (3269 for the global catalog). Site records come before the
 * domain-wide ones, which stay as failover.
 */
function recordSets(c: DiscoveryConfig & { domain: string }): { names: string[]; secure: boolean; port?: number }[] {
  const site = (prefix: string, suffix: string): string[] => (c.site === undefined ? [] : [`${prefix}.${c.site}._sites.${suffix}`]);
  if (c.globalCatalog) {
    const names = [...site('_gc._tcp', c.domain), `_gc._tcp.${c.domain}`];
    return [c.startTls ? { names, secure: false } : { names, secure: true, port: GC_TLS_PORT }];
  }
  const ldapNames =
    c.kind === 'active-directory'
      ? [...site('_ldap._tcp', `dc._msdcs.${c.domain}`), `_ldap._tcp.dc._msdcs.${c.domain}`]
      : [`_ldap._tcp.${c.domain}`];
  if (c.startTls) return [{ names: ldapNames, secure: false }];
  return [
    { names: [...site('_ldaps._tcp', c.domain), `_ldaps._tcp.${c.domain}`], secure: true },
    { names: ldapNames, secure: true, port: LDAPS_PORT },
  ];
}

/**
 * Finds directory servers from DNS SRV records (RFC 2782 order), caches them
 * for dnsCacheSeconds, and resolves host names through the profile's own DNS
 * servers when it names some (split-horizon networks, tests): then a name the
 * system resolver cannot see still works, and the certificate is still
 * checked against the name. No timers: everything happens when asked.
 */
export class DnsDiscovery {
  private readonly resolver: dns.Resolver;
  private cached: DirectoryServer[] | undefined;
  private expiresAt = 0;
  private inFlight: Promise<DirectoryServer[]> | undefined;
  private last: DiscoveryReport | undefined;
  private readonly addresses = new Map<string, { address: string; until: number }>();

  constructor(
    private readonly config: DiscoveryConfig,
    private readonly logger: Logger,
    private readonly now: () => number = Date.now,
  ) {
    // Per try; two tries. DNS is asked before any server, so it gets no more than a server would.
    this.resolver = new dns.Resolver({ timeout: Math.min(2000, Math.ceil(config.timeoutMs / 2)), tries: 2 });
    if (config.dnsServers !== undefined) this.resolver.setServers(config.dnsServers);
  }

  /** Discovered servers in the order to try them; [] without a domain. Throws only when DNS never answered. */
  async servers(): Promise<DirectoryServer[]> {
    if (this.config.domain === undefined) return [];
    if (this.cached !== undefined && this.now() < this.expiresAt) return this.cached;
    this.inFlight ??= this.lookup(this.config.domain).finally(() => (this.inFlight = undefined));
    return this.inFlight;
  }

  /** Forget the cache: the next servers() asks DNS again (a "Test directory" wants a fresh answer). */
  refresh(): void {
    this.expiresAt = 0;
    for (const a of this.addresses.values()) a.until = 0;
  }

  report(): DiscoveryReport | undefined {
    if (this.config.domain === undefined) return undefined;
    return this.last ?? { domain: this.config.domain, ...(this.config.site ? { site: this.config.site } : {}), dnsServers: this.dnsServerNames(), queries: [] };
  }

  /**
   * The address to connect to for `host`: itself unless the profile names DNS
   * servers, then theirs, cached like the SRV answers (and used past that
   * when DNS stops answering, as the servers themselves are).
   */
  async resolveHost(host: string): Promise<string> {
    if (this.config.dnsServers === undefined || net.isIP(host) !== 0) return host;
    const key = host.toLowerCase();
    const cached = this.addresses.get(key);
    if (cached !== undefined && cached.until > this.now()) return cached.address;
    const [v4, v6] = await Promise.allSettled([this.resolver.resolve4(host), this.resolver.resolve6(host)]);
    const address = (v4.status === 'fulfilled' ? v4.value[0] : undefined) ?? (v6.status === 'fulfilled' ? v6.value[0] : undefined);
    if (address !== undefined) {
      this.addresses.set(key, { address, until: this.now() + this.config.dnsCacheSeconds * 1000 });
      return address;
    }
    if (cached !== undefined) return cached.address;
    const reason = v4.status === 'rejected' ? (v4.reason as NodeJS.ErrnoException).code : 'no address';
    throw new DirectoryError('unreachable', `cannot resolve ${host} with the profile's DNS servers ${this.config.dnsServers.join(', ')} (${reason})`);
  }

  private dnsServerNames(): string[] {
    return this.config.dnsServers ?? ['system'];
  }

  private async lookup(domain: string): Promise<DirectoryServer[]> {
    const sets = recordSets({ ...this.config, domain });
    // All names at once: a slow or dead DNS server costs one query's time, not four.
    const answers = await Promise.all(sets.map((set) => Promise.all(set.names.map((name) => this.ask(name)))));
    const queries: DnsQueryReport[] = [];
    let servers: DirectoryServer[] = [];
    for (const [i, set] of sets.entries()) {
      const found: DirectoryServer[] = [];
      for (const answer of answers[i] ?? []) {
        queries.push(answer.report);
        for (const r of answer.records) found.push(makeServer(set.secure, r.name.replace(/\.$/, ''), set.port ?? r.port, 'dns'));
      }
      servers = uniqueServers(found);
      // The first record set that names servers wins; the ones after it are not reported.
      if (servers.length > 0) break;
    }
    const report: DiscoveryReport = {
      domain,
      ...(this.config.site ? { site: this.config.site } : {}),
      dnsServers: this.dnsServerNames(),
      queries,
      resolvedAt: new Date(this.now()),
    };
    if (servers.length === 0) {
      const detail = queries.map((q) => `${q.name}: ${q.error ?? 'no servers'}`).join('; ');
      const message = `no directory servers found in DNS for ${domain} (${detail})`;
      this.last = { ...report, error: message };
      if (this.cached !== undefined && this.cached.length > 0) {
        // Keep using what DNS said before: a DNS hiccup must not take sign-ins down.
        this.logger.warn({ error: message }, 'directory discovery failed; still using the servers found before');
        this.expiresAt = this.now() + Math.min(RETRY_FAILED_MS, this.config.dnsCacheSeconds * 1000);
        return this.cached;
      }
      throw new DirectoryError('unreachable', message);
    }
    this.logger.info({ site: this.config.site, servers: servers.map((s) => s.url) }, 'directory servers discovered');
    this.last = report;
    this.cached = servers;
    this.expiresAt = this.now() + this.config.dnsCacheSeconds * 1000;
    return servers;
  }

  /** One SRV query; "does not exist" is an empty answer, anything else is noted and also empty. */
  private async ask(name: string): Promise<{ records: SrvRecord[]; report: DnsQueryReport }> {
    try {
      const records = orderSrvRecords(await this.resolver.resolveSrv(name));
      return { records, report: { name, found: records.map((r) => `${r.name}:${r.port}`) } };
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code ?? String(e);
      return { records: [], report: { name, found: [], ...(code === 'ENOTFOUND' || code === 'ENODATA' ? {} : { error: code }) } };
    }
  }
}
