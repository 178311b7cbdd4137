import type { Profile } from '../../core/profiles/schema.js';
import { nextFreePort, probePort } from '../../core/proxy/free-port.js';
import { describePortOwner } from '../../core/proxy/port-owner.js';
import type { ProxyService } from '../../core/service.js';
import type { PortCheck } from '../contract.js';

export { nextFreePort, probePort };

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
