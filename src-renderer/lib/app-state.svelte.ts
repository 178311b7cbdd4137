import type { AppInfo, ProfileSummary, ServiceStatus } from '../../src-main/ipc/contract.js';
import type { ConnectionEvent } from '../../src-main/core/proxy/profile-proxy.js';
import { call, messageOf } from './api.js';
import { getBridge } from './bridge-client.js';

/** The latest connection attempts seen live (this window's lifetime only; history keeps the rest). */
const RECENT_LIMIT = 20;

/**
 * What every page shares: the profiles, each proxy's status, app info. Kept
 * fresh by the bridge's events; a slow poll refreshes byte counters, which
 * change without an event.
 */
class AppState {
  profiles = $state<ProfileSummary[]>([]);
  statuses = $state<Record<string, ServiceStatus>>({});
  recent = $state<ConnectionEvent[]>([]);
  info = $state<AppInfo | null>(null);
  loaded = $state(false);
  loadError = $state<string | null>(null);
  private started = false;

  start(): void {
    if (this.started) return;
    this.started = true;
    const bridge = getBridge();
    bridge.on('proxies.status', (s) => {
      this.statuses[s.profileId] = s;
    });
    bridge.on('proxies.connection', (e) => {
      this.recent = [e, ...this.recent].slice(0, RECENT_LIMIT);
    });
    void this.refresh();
    void call('app.info', {}).then(
      (info) => (this.info = info),
      () => undefined,
    );
  }

  async refresh(): Promise<void> {
    try {
      const [profiles, statuses] = await Promise.all([call('profiles.list', {}), call('proxies.status', {})]);
      this.profiles = profiles;
      this.applyStatuses(statuses);
      this.loadError = null;
    } catch (e) {
      this.loadError = messageOf(e);
    } finally {
      this.loaded = true;
    }
  }

  async refreshStatuses(): Promise<void> {
    try {
      this.applyStatuses(await call('proxies.status', {}));
    } catch {
      // The next event or poll will bring it back.
    }
  }

  private applyStatuses(list: ServiceStatus[]): void {
    const next: Record<string, ServiceStatus> = {};
    for (const s of list) next[s.profileId] = s;
    // Keep "stopped"/"error" states we were told about for proxies no longer listed.
    for (const [id, s] of Object.entries(this.statuses)) if (!next[id]) next[id] = { ...s, state: s.state === 'error' ? 'error' : 'stopped', sessions: [], activeConnections: 0, pendingRestart: false };
    this.statuses = next;
  }

  keychainLabel(): string {
    const k = this.info?.keychain;
    if (!k) return 'the system keychain';
    return k.backend;
  }
}

export const app = new AppState();
