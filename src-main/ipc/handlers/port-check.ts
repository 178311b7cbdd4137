import net from 'node:net';
import type { Profile } from '../../core/profiles/schema.js';
import { describePortOwner } from '../../core/proxy/port-owner.js';
import type { ProxyService } from '../../core/service.js';
import type { PortCheck } from '../contract.js';

export type PortProbe = { free: true } | { free: false; code: string };

/** Tries to listen exclusively on host:port, as the proxy would, and lets go at once. */
export function probePort(host: string, port: number): Promise<PortProbe> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (e: NodeJS.ErrnoException) => resolve({ free: false, code: e.code ?? 'ERROR' }));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve({ free: true })));
  });
}

/** The profile (other than `exceptId`) that already uses this port, if any. */
export function profileOnPort(profiles: Profile[], port: number, exceptId?: string): Profile | undefined {
  return profiles.find((p) => p.listen.port === port && p.id !== exceptId);
}

/** True when the port is held by this app's own running proxy for one of `ids`. */
function heldByOwnProxy(service: ProxyService, port: number, ids: (string | undefined)[]): boolean {
  return ids.some((id) => {
    if (!id) return false;
    const s = service.get(id)?.status();
    return s !== undefined && s.port === port && (s.state === 'running' || s.state === 'starting' || s.state === 'stopping');
  });
}

/** Who holds a port: another profile, another program, or nobody. */
export async function checkPort(
  service: ProxyService,
  profiles: Profile[],
  port: number,
  options: { host?: string; exceptIds?: (string | undefined)[] } = {},
): Promise<PortCheck> {
  const host = options.host ?? '127.0.0.1';
  const except = options.exceptIds ?? [];
  const other = profiles.find((p) => p.listen.port === port && !except.includes(p.id));
  let owner: string | null = null;
  if (other) owner = `Rolecall profile "${other.id}"`;
  else if (!heldByOwnProxy(service, port, except)) {
    const probe = await probePort(host, port);
    if (!probe.free) {
      owner = probe.code === 'EADDRINUSE' ? ((await describePortOwner(port)) ?? 'another program') : `not usable here (${probe.code})`;
    }
  }
  if (owner === null) return { port, free: true, owner: null, nextFree: null };
  return { port, free: false, owner, nextFree: await nextFreePort(profiles, port + 1, host) };
}

/** The first port from `from` that no profile uses and that can be listened on (searching a bounded range). */
export async function nextFreePort(profiles: Profile[], from: number, host = '127.0.0.1'): Promise<number | null> {
  const used = new Set(profiles.map((p) => p.listen.port));
  const start = Math.max(1024, Math.min(from, 65535));
  for (let port = start, tries = 0; port <= 65535 && tries < 500; port++, tries++) {
    if (used.has(port)) continue;
    if ((await probePort(host, port)).free) return port;
  }
  return null;
}
