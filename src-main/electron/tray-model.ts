import type { ProxyState, ProxyStatus } from '../core/proxy/profile-proxy.js';

/**
 * The tray as a pure function of engine state: what to show and what each
 * item does, as plain data. tray.ts only turns this into Electron calls, so
 * everything a user sees in the tray is tested here without Electron.
 */

/** The part of a proxy's status the tray shows; pendingRestart as the service reports it (saved settings not yet applied). */
export type TrayProxyStatus = Pick<ProxyStatus, 'profileId' | 'name' | 'state' | 'port' | 'error' | 'activeConnections'> & {
  pendingRestart?: boolean;
};

export interface TrayState {
  /** Profiles in config order (ProfileSummary has these fields). */
  profiles: { id: string; name: string; port: number }[];
  statuses: TrayProxyStatus[];
  launchAtLogin: boolean;
}

export type TrayAction =
  | { type: 'start'; profileId: string }
  | { type: 'stop'; profileId: string }
  /** Applies saved settings that wait for a restart (clients were connected when they were saved). */
  | { type: 'restart'; profileId: string }
  /** Without a page, an open window stays where the user left it. */
  | { type: 'open'; page?: 'history' | 'new-profile' }
  | { type: 'launch-at-login'; enabled: boolean }
  | { type: 'quit' };

export type TrayItem =
  | { kind: 'separator' }
  | { kind: 'label'; label: string }
  | { kind: 'action'; label: string; action: TrayAction; enabled: boolean }
  | { kind: 'checkbox'; label: string; checked: boolean; enabled: boolean; action: TrayAction };

export type TrayIcon = 'stopped' | 'running' | 'error';

/** Longest error text shown in the menu; the window shows the whole message. */
const MAX_ERROR_CHARS = 80;

const busyStates: ReadonlySet<ProxyState> = new Set(['starting', 'stopping']);
const onStates: ReadonlySet<ProxyState> = new Set(['starting', 'running']);

export function trayMenuModel(state: TrayState): TrayItem[] {
  const items: TrayItem[] = [];
  const byId = new Map(state.statuses.map((s) => [s.profileId, s]));
  const rows = state.profiles.map((p) => ({ id: p.id, name: p.name, port: p.port, status: byId.get(p.id) }));
  // A proxy can outlive its profile (deleted while running): keep it stoppable.
  for (const s of state.statuses) {
    if (!state.profiles.some((p) => p.id === s.profileId)) rows.push({ id: s.profileId, name: s.name, port: s.port, status: s });
  }

  if (rows.length === 0) {
    items.push({ kind: 'label', label: 'No profiles yet' });
    items.push({ kind: 'action', label: 'Add a profile…', action: { type: 'open', page: 'new-profile' }, enabled: true });
  }
  for (const row of rows) {
    const st = row.status?.state ?? 'stopped';
    const checked = onStates.has(st);
    items.push({
      kind: 'checkbox',
      label: profileLabel(row.name, row.status?.port ?? row.port, st, row.status?.activeConnections ?? 0, row.status?.pendingRestart === true),
      checked,
      enabled: !busyStates.has(st),
      action: checked ? { type: 'stop', profileId: row.id } : { type: 'start', profileId: row.id },
    });
    if (st === 'error' && row.status?.error) items.push({ kind: 'label', label: `    ${truncate(row.status.error, MAX_ERROR_CHARS)}` });
    if (st === 'running' && row.status?.pendingRestart === true) {
      items.push({ kind: 'action', label: `    Restart to apply (${row.name})`, action: { type: 'restart', profileId: row.id }, enabled: true });
    }
  }

  items.push({ kind: 'separator' });
  items.push({ kind: 'action', label: 'Open Rolecall…', action: { type: 'open' }, enabled: true });
  items.push({ kind: 'action', label: 'Connection history…', action: { type: 'open', page: 'history' }, enabled: true });
  items.push({ kind: 'separator' });
  items.push({
    kind: 'checkbox',
    label: 'Launch at login',
    checked: state.launchAtLogin,
    enabled: true,
    action: { type: 'launch-at-login', enabled: !state.launchAtLogin },
  });
  items.push({ kind: 'separator' });
  items.push({ kind: 'action', label: 'Quit', action: { type: 'quit' }, enabled: true });
  return items;
}

function profileLabel(name: string, port: number, state: ProxyState, active: number, pendingRestart: boolean): string {
  const base = `${name} — port ${port}`;
  switch (state) {
    case 'running':
      return `${base} — ${active} active${pendingRestart ? ' (restart to apply)' : ''}`;
    case 'starting':
      return `${base} — starting…`;
    case 'stopping':
      return `${base} — stopping…`;
    case 'error':
      return `${base} — error`;
    case 'stopped':
      return base;
  }
}

/** Error wins over running: a broken proxy must not hide behind a working one. */
export function trayIconFor(statuses: readonly TrayProxyStatus[]): TrayIcon {
  if (statuses.some((s) => s.state === 'error')) return 'error';
  if (statuses.some((s) => s.state !== 'stopped')) return 'running';
  return 'stopped';
}

export function trayTooltip(statuses: readonly TrayProxyStatus[]): string {
  const failed = statuses.filter((s) => s.state === 'error');
  const running = statuses.filter((s) => s.state === 'running');
  const connections = running.reduce((n, s) => n + s.activeConnections, 0);
  const parts: string[] = [];
  if (running.length > 0) {
    parts.push(`${running.length} ${running.length === 1 ? 'proxy' : 'proxies'} running, ${connections} ${connections === 1 ? 'connection' : 'connections'}`);
  }
  if (failed.length > 0) {
    const first = failed[0]!;
    parts.push(failed.length === 1 ? `${first.name}: ${truncate(first.error ?? 'error', MAX_ERROR_CHARS)}` : `${failed.length} proxies failed`);
  }
  return `Rolecall — ${parts.length > 0 ? parts.join('; ') : 'no proxy running'}`;
}

function truncate(text: string, max: number): string {
  const oneLine = text.replace(/\s+/g, ' ').trim();
  return oneLine.length <= max ? oneLine : `${oneLine.slice(0, max - 1)}…`;
}
