import { EventEmitter } from 'node:events';
import net from 'node:net';
import type os from 'node:os';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { networkSnapshot, type InterfaceTable } from '../../src-main/electron/network-watch.js';
import { watchPowerAndNetwork } from '../../src-main/electron/power.js';
import { describeRecheck, probeListener, recheckProxies, type RecheckableProxy, type RecheckableService } from '../../src-main/electron/recheck.js';
import type { ProxyStatus } from '../../src-main/core/proxy/profile-proxy.js';
import type { Profile } from '../../src-main/core/profiles/schema.js';
import type { RevalidationReport } from '../../src-main/core/auth/revalidator.js';
import { freePort } from '../harness/ports.js';

// After sleep or a network change the host re-checks its proxies. powerMonitor
// is a plain EventEmitter here (no Electron binary on this machine); listeners
// are real TCP servers.

function iface(address: string, family: 'IPv4' | 'IPv6' = 'IPv4', internal = false): os.NetworkInterfaceInfo {
  return { address, family, internal, netmask: '', mac: '', cidr: null, ...(family === 'IPv6' ? { scopeid: 0 } : {}) } as os.NetworkInterfaceInfo;
}

describe('networkSnapshot', () => {
  it('is offline with only loopback and link-local addresses', () => {
    const s = networkSnapshot({ lo: [iface('127.0.0.1', 'IPv4', true)], eth0: [iface('fe80::1', 'IPv6')] });
    expect(s.online).toBe(false);
  });

  it('changes when an address changes and not when the order does', () => {
    const a = networkSnapshot({ eth0: [iface('192.168.1.5')], wlan0: [iface('10.0.0.7')] });
    const sameReordered = networkSnapshot({ wlan0: [iface('10.0.0.7')], eth0: [iface('192.168.1.5')] });
    const moved = networkSnapshot({ eth0: [iface('192.168.1.6')], wlan0: [iface('10.0.0.7')] });
    expect(a.online).toBe(true);
    expect(sameReordered.fingerprint).toBe(a.fingerprint);
    expect(moved.fingerprint).not.toBe(a.fingerprint);
  });
});

describe('watchPowerAndNetwork', () => {
  afterEach(() => {
    vi.useRealTimers();
  });

  it('rechecks once after resume and the network change that follows it, naming both', async () => {
    vi.useFakeTimers();
    const powerMonitor = new EventEmitter();
    let table: InterfaceTable = { eth0: [iface('192.168.1.5')] };
    const reasons: string[] = [];
    const stop = watchPowerAndNetwork({
      powerMonitor: powerMonitor as never,
      recheck: async (reason) => {
        reasons.push(reason);
      },
      settleMs: 3000,
      networkPollMs: 1000,
      readInterfaces: () => table,
    });
    powerMonitor.emit('resume');
    await vi.advanceTimersByTimeAsync(1000);
    table = {};
    await vi.advanceTimersByTimeAsync(1000);
    expect(reasons).toEqual([]);
    await vi.advanceTimersByTimeAsync(4000);
    expect(reasons).toEqual(['resume from sleep, network offline']);
    table = { wlan0: [iface('10.0.0.9')] };
    await vi.advanceTimersByTimeAsync(5000);
    expect(reasons).toEqual(['resume from sleep, network offline', 'network online']);
    stop();
    powerMonitor.emit('resume');
    await vi.advanceTimersByTimeAsync(10_000);
    expect(reasons).toHaveLength(2);
    expect(powerMonitor.listenerCount('resume')).toBe(0);
  });

  it('never runs two rechecks at once', async () => {
    vi.useFakeTimers();
    const powerMonitor = new EventEmitter();
    let active = 0;
    let most = 0;
    let runs = 0;
    const stop = watchPowerAndNetwork({
      powerMonitor: powerMonitor as never,
      recheck: async () => {
        active++;
        runs++;
        most = Math.max(most, active);
        await new Promise((r) => setTimeout(r, 10_000));
        active--;
      },
      settleMs: 100,
      readInterfaces: () => ({}),
    });
    powerMonitor.emit('resume');
    await vi.advanceTimersByTimeAsync(200);
    powerMonitor.emit('resume');
    await vi.advanceTimersByTimeAsync(30_000);
    stop();
    expect(runs).toBe(2);
    expect(most).toBe(1);
  });
});

describe('recheckProxies', () => {
  const servers: net.Server[] = [];
  afterEach(async () => {
    await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
  });

  async function listening(): Promise<number> {
    const port = await freePort();
    const server = net.createServer((s) => s.destroy());
    servers.push(server);
    await new Promise<void>((r) => server.listen(port, '127.0.0.1', r));
    return port;
  }

  function fakeService(entries: { id: string; port: number; report?: RevalidationReport }[]) {
    const calls: string[] = [];
    const proxies = new Map<string, RecheckableProxy>();
    let idle = 2;
    for (const e of entries) {
      const st = { profileId: e.id, name: e.id, state: 'running', host: '127.0.0.1', port: e.port } as ProxyStatus;
      proxies.set(e.id, {
        profile: { id: e.id } as Profile,
        status: () => st,
        revalidateNow: async () => {
          calls.push(`revalidate ${e.id}`);
          return e.report ?? { checked: 0, revoked: [], failed: [] };
        },
        pool: {
          idleCount: () => idle,
          drainAll: () => {
            calls.push(`drain ${e.id}`);
            idle = 0;
          },
        },
      });
    }
    const service: RecheckableService = {
      status: () => [...proxies.values()].map((p) => p.status()),
      get: (id) => proxies.get(id),
      stop: async (id) => {
        calls.push(`stop ${id}`);
      },
      start: async (p) => {
        calls.push(`start ${p.id}`);
        return proxies.get(p.id)!.status();
      },
    };
    return { service, calls };
  }

  it('probes a live listener as alive and a closed port as dead', async () => {
    expect(await probeListener('127.0.0.1', await listening())).toBe(true);
    expect(await probeListener('127.0.0.1', await freePort())).toBe(false);
  });

  it('drops idle upstream connections, revalidates live proxies, restarts one whose port stopped answering', async () => {
    const alive = await listening();
    const dead = await freePort();
    const { service, calls } = fakeService([
      { id: 'alive', port: alive, report: { checked: 2, revoked: ['bob'], failed: [] } },
      { id: 'dead', port: dead },
    ]);
    const report = await recheckProxies(service);
    expect(calls).toEqual(expect.arrayContaining(['drain alive', 'drain dead', 'revalidate alive', 'stop dead', 'start dead']));
    expect(calls).not.toContain('revalidate dead');
    expect(report.restarted).toEqual(['dead']);
    expect(report.revoked).toEqual([{ profileId: 'alive', logins: ['bob'] }]);
    expect(report.idleDropped).toBe(2);
    const text = describeRecheck(report)!;
    expect(text).toContain('Restarted the listener of dead.');
    expect(text).toContain('alive: access revoked for bob');
  });

  it('says nothing when nothing changed, and explains logins it could not re-check', async () => {
    const port = await listening();
    const quiet = await recheckProxies(fakeService([{ id: 'a', port }]).service);
    expect(describeRecheck(quiet)).toBeNull();
    const offline = await recheckProxies(fakeService([{ id: 'a', port, report: { checked: 1, revoked: [], failed: ['alice'] } }]).service);
    expect(describeRecheck(offline)).toMatch(/could not re-check alice — the directory is unreachable; their sessions stay open/);
  });
});
