import { describe, expect, it } from 'vitest';
import { trayIconFor, trayMenuModel, trayTooltip, type TrayItem, type TrayProxyStatus, type TrayState } from '../../src-main/electron/tray-model.js';

// The tray menu is a pure function of engine state: tested here without Electron.

const profiles = [
  { id: 'hr-prod', name: 'HR production', port: 6432 },
  { id: 'sales', name: 'Sales', port: 6433 },
];

function status(profileId: string, state: TrayProxyStatus['state'], extra: Partial<TrayProxyStatus> = {}): TrayProxyStatus {
  const p = profiles.find((x) => x.id === profileId);
  return { profileId, name: p?.name ?? profileId, state, port: p?.port ?? 7000, error: null, activeConnections: 0, ...extra };
}

function state(statuses: TrayProxyStatus[], extra: Partial<TrayState> = {}): TrayState {
  return { profiles, statuses, launchAtLogin: false, ...extra };
}

const labels = (items: TrayItem[]) => items.map((i) => (i.kind === 'separator' ? '---' : i.label));

describe('trayMenuModel', () => {
  it('lists every profile with its port, then the app items in order', () => {
    expect(labels(trayMenuModel(state([])))).toEqual([
      'HR production — port 6432',
      'Sales — port 6433',
      '---',
      'Open Rolecall…',
      'Connection history…',
      '---',
      'Launch at login',
      '---',
      'Quit',
    ]);
  });

  it('checks a running profile, shows its active connections, and its click stops it', () => {
    const items = trayMenuModel(state([status('hr-prod', 'running', { activeConnections: 3 })]));
    expect(items[0]).toEqual({
      kind: 'checkbox',
      label: 'HR production — port 6432 — 3 active',
      checked: true,
      enabled: true,
      action: { type: 'stop', profileId: 'hr-prod' },
    });
    expect(items[1]).toMatchObject({ kind: 'checkbox', checked: false, action: { type: 'start', profileId: 'sales' } });
  });

  it('marks a running profile whose saved settings wait for a restart, and offers the restart right under it', () => {
    const items = trayMenuModel(state([status('hr-prod', 'running', { activeConnections: 2, pendingRestart: true }), status('sales', 'running')]));
    expect(items[0]).toMatchObject({ label: 'HR production — port 6432 — 2 active (restart to apply)', checked: true });
    expect(items[1]).toEqual({ kind: 'action', label: '    Restart to apply (HR production)', action: { type: 'restart', profileId: 'hr-prod' }, enabled: true });
    expect(items[2]).toMatchObject({ label: 'Sales — port 6433 — 0 active' });
    // Only the profile that waits gets one.
    expect(items.filter((i) => i.kind === 'action' && i.action.type === 'restart')).toHaveLength(1);
  });

  it('offers no restart for a stopped profile, nor once the change is applied', () => {
    expect(trayMenuModel(state([status('hr-prod', 'stopped', { pendingRestart: true })])).some((i) => i.kind === 'action' && i.action.type === 'restart')).toBe(false);
    expect(trayMenuModel(state([status('hr-prod', 'running', { pendingRestart: false })])).some((i) => i.kind === 'action' && i.action.type === 'restart')).toBe(false);
  });

  it('disables a profile while it starts or stops, so a double click cannot race', () => {
    const items = trayMenuModel(state([status('hr-prod', 'starting'), status('sales', 'stopping')]));
    expect(items[0]).toMatchObject({ label: 'HR production — port 6432 — starting…', enabled: false, checked: true });
    expect(items[1]).toMatchObject({ label: 'Sales — port 6433 — stopping…', enabled: false, checked: false });
  });

  it('shows a failed proxy unchecked, startable again, with its error on the next line (shortened, one line)', () => {
    const error = `port 6432 on 127.0.0.1 is already in use by postgres (pid 4242):\n stop that program or give profile "hr-prod" another listen.port ${'x'.repeat(50)}`;
    const items = trayMenuModel(state([status('hr-prod', 'error', { error })]));
    expect(items[0]).toMatchObject({ label: 'HR production — port 6432 — error', checked: false, enabled: true, action: { type: 'start', profileId: 'hr-prod' } });
    expect(items[1]?.kind).toBe('label');
    const detail = items[1]?.kind === 'label' ? items[1].label : '';
    expect(detail).toContain('port 6432 on 127.0.0.1 is already in use');
    expect(detail).not.toContain('\n');
    expect(detail.trim().length).toBeLessThanOrEqual(80);
    expect(detail.endsWith('…')).toBe(true);
  });

  it('uses the running port from the status (the profile may have been edited since)', () => {
    const items = trayMenuModel(state([status('sales', 'running', { port: 7777 })]));
    expect(items[1]).toMatchObject({ label: 'Sales — port 7777 — 0 active' });
  });

  it('keeps a proxy whose profile was deleted while it runs, so it can still be stopped', () => {
    const items = trayMenuModel(state([status('gone', 'running', { name: 'Old profile', port: 7001, activeConnections: 1 })]));
    expect(items[2]).toMatchObject({ label: 'Old profile — port 7001 — 1 active', checked: true, action: { type: 'stop', profileId: 'gone' } });
  });

  it('says what to do when there is no profile yet', () => {
    const items = trayMenuModel({ profiles: [], statuses: [], launchAtLogin: false });
    expect(labels(items).slice(0, 2)).toEqual(['No profiles yet', 'Add a profile…']);
    expect(items[1]).toMatchObject({ action: { type: 'open', page: 'new-profile' } });
  });

  it('wires the app items to their actions', () => {
    const items = trayMenuModel(state([]));
    const byLabel = (l: string) => items.find((i) => i.kind !== 'separator' && i.label === l);
    expect(byLabel('Open Rolecall…')).toMatchObject({ action: { type: 'open' } });
    expect(byLabel('Open Rolecall…')).not.toHaveProperty('action.page');
    expect(byLabel('Connection history…')).toMatchObject({ action: { type: 'open', page: 'history' } });
    expect(byLabel('Quit')).toMatchObject({ action: { type: 'quit' } });
  });

  it('shows "Launch at login" checked as it is, and its click flips it', () => {
    const off = trayMenuModel(state([])).find((i) => i.kind === 'checkbox' && i.label === 'Launch at login');
    const on = trayMenuModel(state([], { launchAtLogin: true })).find((i) => i.kind === 'checkbox' && i.label === 'Launch at login');
    expect(off).toMatchObject({ checked: false, action: { type: 'launch-at-login', enabled: true } });
    expect(on).toMatchObject({ checked: true, action: { type: 'launch-at-login', enabled: false } });
  });
});

describe('trayIconFor', () => {
  it('is "stopped" with nothing running', () => {
    expect(trayIconFor([])).toBe('stopped');
    expect(trayIconFor([status('hr-prod', 'stopped')])).toBe('stopped');
  });

  it('is "running" while any proxy runs or is on its way', () => {
    expect(trayIconFor([status('hr-prod', 'running'), status('sales', 'stopped')])).toBe('running');
    expect(trayIconFor([status('hr-prod', 'starting')])).toBe('running');
  });

  it('is "error" when any proxy failed, even if another runs', () => {
    expect(trayIconFor([status('hr-prod', 'running'), status('sales', 'error', { error: 'boom' })])).toBe('error');
  });
});

describe('trayTooltip', () => {
  it('says nothing runs', () => {
    expect(trayTooltip([status('hr-prod', 'stopped')])).toBe('Rolecall — no proxy running');
  });

  it('counts running proxies and their connections', () => {
    expect(trayTooltip([status('hr-prod', 'running', { activeConnections: 1 })])).toBe('Rolecall — 1 proxy running, 1 connection');
    expect(trayTooltip([status('hr-prod', 'running', { activeConnections: 2 }), status('sales', 'running', { activeConnections: 3 })])).toBe(
      'Rolecall — 2 proxies running, 5 connections',
    );
  });

  it('names a failed proxy and its error', () => {
    expect(trayTooltip([status('hr-prod', 'running'), status('sales', 'error', { error: 'port 6433 is already in use' })])).toBe(
      'Rolecall — 1 proxy running, 0 connections; Sales: port 6433 is already in use',
    );
    expect(trayTooltip([status('hr-prod', 'error', { error: 'a' }), status('sales', 'error', { error: 'b' })])).toBe('Rolecall — 2 proxies failed');
  });
});
