import { beforeAll, describe, expect, it, vi } from 'vitest';
import { channels, type RolecallBridge } from '../../src-main/ipc/contract.js';
import type { ElectronStandIn } from './electron-stand-in.js';

// The Electron binary cannot run on this machine: the preload is loaded here
// with a stand-in `electron` module (test/unit/electron-stand-in.ts) that
// records what it exposes through contextBridge and what it sends on ipcRenderer.
const electron = vi.hoisted(() => ({ current: null as ElectronStandIn | null }));
vi.mock('electron', async () => {
  const { createElectronStandIn } = await import('./electron-stand-in.js');
  electron.current = createElectronStandIn();
  return electron.current;
});

let standIn: ElectronStandIn;
let bridge: RolecallBridge;
beforeAll(async () => {
  await import('../../src-main/electron/preload.js');
  standIn = electron.current!;
  bridge = standIn.exposed.rolecall as RolecallBridge;
});

describe('preload', () => {
  it('exposes exactly one global, "rolecall", with exactly invoke and on', () => {
    expect(Object.keys(standIn.exposed)).toEqual(['rolecall']);
    expect(Object.keys(bridge).sort()).toEqual(['invoke', 'on']);
    expect(typeof bridge.invoke).toBe('function');
    expect(typeof bridge.on).toBe('function');
  });

  it('forwards every channel of the contract to the main process with its request', async () => {
    for (const channel of channels) {
      standIn.ipcRenderer.answer = { ok: true, value: channel };
      const request = { probe: channel };
      // @ts-expect-error -- one request object for all channels; the main side validates it
      await expect(bridge.invoke(channel, request)).resolves.toEqual({ ok: true, value: channel });
      expect(standIn.ipcRenderer.invoked.at(-1)).toEqual({ channel: `rolecall:invoke:${channel}`, args: [request] });
    }
  });

  it('refuses a channel outside the contract without reaching the main process', async () => {
    const before = standIn.ipcRenderer.invoked.length;
    for (const bad of ['shell.openExternal', 'profiles.list ', '__proto__', 'constructor', '']) {
      // @ts-expect-error -- not a channel
      await expect(bridge.invoke(bad, {})).rejects.toThrow(/unknown Rolecall channel/);
    }
    // @ts-expect-error -- not even a string
    await expect(bridge.invoke(42, {})).rejects.toThrow(/unknown Rolecall channel/);
    expect(standIn.ipcRenderer.invoked.length).toBe(before);
  });

  it('delivers a known event to the listener with the payload only, until unsubscribed', () => {
    const got: unknown[] = [];
    const off = bridge.on('proxies.status', (s) => got.push(s));
    standIn.ipcRenderer.emit('rolecall:event:proxies.status', { sender: 'ipc event object' }, { profileId: 'hr-prod', state: 'running' });
    expect(got).toEqual([{ profileId: 'hr-prod', state: 'running' }]);
    off();
    standIn.ipcRenderer.emit('rolecall:event:proxies.status', { sender: 'ipc event object' }, { profileId: 'hr-prod', state: 'stopped' });
    expect(got).toHaveLength(1);
    expect(standIn.ipcRenderer.listenerCount('rolecall:event:proxies.status')).toBe(0);
  });

  it('keeps the two events apart', () => {
    const statuses: unknown[] = [];
    const connections: unknown[] = [];
    const offs = [bridge.on('proxies.status', (s) => statuses.push(s)), bridge.on('proxies.connection', (c) => connections.push(c))];
    standIn.ipcRenderer.emit('rolecall:event:proxies.connection', {}, { outcome: 'denied' });
    expect(statuses).toEqual([]);
    expect(connections).toEqual([{ outcome: 'denied' }]);
    offs.forEach((off) => off());
  });

  it('refuses an unknown event or a listener that is not a function', () => {
    // @ts-expect-error -- not an event
    expect(() => bridge.on('ipc-message', () => undefined)).toThrow(/unknown Rolecall event/);
    // @ts-expect-error -- not a function
    expect(() => bridge.on('proxies.status', 'alert(1)')).toThrow(/must be a function/);
    expect(standIn.ipcRenderer.eventNames()).toEqual([]);
  });
});
