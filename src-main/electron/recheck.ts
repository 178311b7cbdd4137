import net from 'node:net';
import type { Profile } from '../core/profiles/schema.js';
import type { ProxyStatus } from '../core/proxy/profile-proxy.js';
import type { RevalidationReport } from '../core/auth/revalidator.js';

/**
 * After sleep or a network change: is each running proxy still accepting on
 * its port (restart it if not), drop idle upstream connections kept in the
 * pool (their TCP sessions may have died with the network), and re-check the
 * logins with open sessions against the directory now rather than at the next
 * interval. The report says what changed, for one notification.
 */
export interface RecheckableProxy {
  readonly profile: Profile;
  status(): ProxyStatus;
  revalidateNow(): Promise<RevalidationReport>;
  /** Optional so this keeps working if a proxy has no upstream pool. */
  readonly pool?: { drainAll(): void; idleCount(login?: string): number };
}

export interface RecheckableService {
  status(): ProxyStatus[];
  get(profileId: string): RecheckableProxy | undefined;
  stop(profileId: string): Promise<void>;
  start(profile: Profile): Promise<ProxyStatus>;
}

export interface RecheckReport {
  checked: string[];
  restarted: string[];
  restartFailed: { profileId: string; error: string }[];
  revoked: { profileId: string; logins: string[] }[];
  lookupFailed: { profileId: string; logins: string[] }[];
  idleDropped: number;
}

export type ListenerProbe = (host: string, port: number) => Promise<boolean>;

export async function recheckProxies(service: RecheckableService, probe: ListenerProbe = probeListener): Promise<RecheckReport> {
  const report: RecheckReport = { checked: [], restarted: [], restartFailed: [], revoked: [], lookupFailed: [], idleDropped: 0 };
  const running = service.status().filter((s) => s.state === 'running');
  await Promise.all(
    running.map(async (s) => {
      const proxy = service.get(s.profileId);
      if (!proxy) return;
      report.checked.push(s.profileId);
      if (proxy.pool) {
        report.idleDropped += proxy.pool.idleCount();
        proxy.pool.drainAll();
      }
      if (!(await probe(s.host, s.port))) {
        try {
          await service.stop(s.profileId);
          await service.start(proxy.profile);
          report.restarted.push(s.profileId);
        } catch (e) {
          report.restartFailed.push({ profileId: s.profileId, error: e instanceof Error ? e.message : String(e) });
        }
        return; // a restarted proxy has no sessions left to revalidate
      }
      try {
        const r = await proxy.revalidateNow();
        if (r.revoked.length > 0) report.revoked.push({ profileId: s.profileId, logins: r.revoked });
        if (r.failed.length > 0) report.lookupFailed.push({ profileId: s.profileId, logins: r.failed });
      } catch (e) {
        report.lookupFailed.push({ profileId: s.profileId, logins: [`(${e instanceof Error ? e.message : String(e)})`] });
      }
    }),
  );
  return report;
}

/** One sentence per change, or null when nothing the user would care about changed. */
export function describeRecheck(report: RecheckReport): string | null {
  const lines: string[] = [];
  if (report.restarted.length > 0) lines.push(`Restarted the listener of ${report.restarted.join(', ')}.`);
  for (const f of report.restartFailed) lines.push(`${f.profileId} could not listen again: ${f.error}`);
  for (const r of report.revoked) lines.push(`${r.profileId}: access revoked for ${r.logins.join(', ')} (no longer in a permitted group).`);
  for (const f of report.lookupFailed) {
    lines.push(`${f.profileId}: could not re-check ${f.logins.join(', ')} — the directory is unreachable; their sessions stay open until it answers.`);
  }
  return lines.length > 0 ? lines.join('\n') : null;
}

/** True when something accepts TCP connections on host:port within the timeout. */
export function probeListener(host: string, port: number, timeoutMs = 1500): Promise<boolean> {
  return new Promise((resolve) => {
    const socket = net.connect({ host, port });
    const done = (ok: boolean) => {
      socket.destroy();
      resolve(ok);
    };
    socket.setTimeout(timeoutMs, () => done(false));
    socket.once('connect', () => done(true));
    socket.once('error', () => done(false));
  });
}
