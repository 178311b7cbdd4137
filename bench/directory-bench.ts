import { createDirectory, type Directory } from '../src-main/core/directory/index.js';
import { directorySchema } from '../src-main/core/profiles/schema.js';
import type { SlapdServer } from '../test/harness/slapd.js';
import { median, percentile, round } from './stats.js';

/** One transport's numbers: the directory's part of a cold sign-in, before and after the pooled service connections. */
export interface DirectorySignIns {
  transport: 'ldap' | 'ldaps';
  samples: number;
  /** A new connection bound as the service account for every sign-in, as before issue #12 phase 1. */
  freshP50Ms: number;
  freshP95Ms: number;
  /** Searches on the kept, already bound service connections (what the proxy does now). */
  pooledP50Ms: number;
  pooledP95Ms: number;
  /** Work per sign-in, counted by the directory client: service binds, and connections opened (the user's bind has its own). */
  freshServiceBinds: number;
  pooledServiceBinds: number;
  freshConnections: number;
  pooledConnections: number;
}

/**
 * (c) the directory's part of a cold sign-in (find the user as the service
 * account, read the password expiry, bind as the user, read the groups) for
 * `logins` on the bench's slapd, in alternation: a fresh directory client per
 * sign-in (connect, encrypt, service bind each time: the old way) and one
 * client whose service connections stay bound. Same users, same server, same
 * work otherwise, so the difference is the pool.
 */
export async function measureDirectorySignIns(ldap: SlapdServer, logins: string[], password: string): Promise<DirectorySignIns[]> {
  const out: DirectorySignIns[] = [];
  for (const transport of ['ldap', 'ldaps'] as const) {
    const config = directorySchema.parse({
      kind: 'openldap',
      url: transport === 'ldap' ? ldap.url : ldap.ldapsUrl,
      caFile: ldap.pki.caFile,
      bindDn: ldap.serviceDn,
      baseDn: ldap.baseDn,
      groupStrategy: 'member-nested',
      groupPrefix: 'heimdall-',
      timeoutMs: 5000,
    });
    const pooled = createDirectory(config, ldap.servicePassword);
    try {
      // One sign-in first, so the pool is open as in a running proxy.
      await pooled.authenticate(logins[0] as string, password);
      const before = pooled.report().counters;
      const fresh: number[] = [];
      const kept: number[] = [];
      const freshWork = { serviceBinds: 0, connections: 0 };
      for (const login of logins) {
        const one: Directory = createDirectory(config, ldap.servicePassword);
        try {
          fresh.push(await timed(() => one.authenticate(login, password)));
          freshWork.serviceBinds += one.report().counters.serviceBinds;
          freshWork.connections += one.report().counters.connections;
        } finally {
          await one.close();
        }
        kept.push(await timed(() => pooled.authenticate(login, password)));
      }
      const after = pooled.report().counters;
      const n = logins.length;
      out.push({
        transport,
        samples: n,
        freshP50Ms: round(median(fresh), 1),
        freshP95Ms: round(percentile(fresh, 95), 1),
        pooledP50Ms: round(median(kept), 1),
        pooledP95Ms: round(percentile(kept, 95), 1),
        freshServiceBinds: round(freshWork.serviceBinds / n, 2),
        pooledServiceBinds: round((after.serviceBinds - before.serviceBinds) / n, 2),
        freshConnections: round(freshWork.connections / n, 2),
        pooledConnections: round((after.connections - before.connections) / n, 2),
      });
    } finally {
      await pooled.close();
    }
  }
  return out;
}

async function timed(work: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await work();
  return performance.now() - t0;
}
