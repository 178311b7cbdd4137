import type { DirectoryConfig } from '../profiles/schema.js';

/** One directory server Rolecall may talk to: from the profile's URLs or found in DNS. */
export interface DirectoryServer {
  /** What reports and messages show, e.g. ldaps://dc1.corp.example.com:636. */
  url: string;
  /** ldaps:// (TLS from the first byte); otherwise ldap://, with StartTLS when the profile says so. */
  secure: boolean;
  /** The host name (or address) the server's certificate must match. */
  host: string;
  port: number;
  source: 'config' | 'dns';
}

const LDAP_PORT = 389;
const LDAPS_PORT = 636;
/** Global catalog ports on every AD GC: plain (StartTLS) and TLS. */
export const GC_PORT = 3268;
export const GC_TLS_PORT = 3269;

/** Host and port from a profile URL (already validated by the schema). */
export function parseLdapUrl(url: string): { secure: boolean; host: string; port: number } {
  const u = new URL(url);
  const secure = u.protocol === 'ldaps:';
  const host = u.hostname.replace(/^\[(.*)\]$/, '$1');
  return { secure, host, port: u.port ? Number(u.port) : secure ? LDAPS_PORT : LDAP_PORT };
}

export function serverUrl(secure: boolean, host: string, port: number): string {
  const name = host.includes(':') ? `[${host}]` : host;
  return `${secure ? 'ldaps' : 'ldap'}://${name}:${port}`;
}

export function makeServer(secure: boolean, host: string, port: number, source: DirectoryServer['source']): DirectoryServer {
  return { url: serverUrl(secure, host, port), secure, host, port, source };
}

/**
 * A profile URL as a server. With `globalCatalog` a URL on the usual LDAP
 * port (389/636, or none) means that DC's global catalog (3268/3269); any
 * other port is taken as given.
 */
export function serverFromUrl(url: string, config: Pick<DirectoryConfig, 'globalCatalog'>): DirectoryServer {
  const { secure, host, port } = parseLdapUrl(url);
  const usual = port === LDAP_PORT || port === LDAPS_PORT;
  const effective = config.globalCatalog && usual ? (secure ? GC_TLS_PORT : GC_PORT) : port;
  return makeServer(secure, host, effective, 'config');
}

/** The same server once in a list, the first occurrence kept (discovered and configured lists overlap). */
export function uniqueServers(servers: DirectoryServer[]): DirectoryServer[] {
  const seen = new Set<string>();
  return servers.filter((s) => {
    const key = s.url.toLowerCase();
    if (seen.has(key)) return false;
    seen.add(key);
    return true;
  });
}

/** How a server's connections are protected, for messages. */
export function transportOf(server: DirectoryServer, config: Pick<DirectoryConfig, 'startTls' | 'insecureSkipVerify'>): string {
  const transport = server.secure ? 'LDAPS' : config.startTls ? 'StartTLS' : 'no encryption';
  if (!server.secure && !config.startTls) return transport;
  return `${transport}, ${config.insecureSkipVerify ? 'certificate NOT verified' : 'certificate verified'}`;
}
