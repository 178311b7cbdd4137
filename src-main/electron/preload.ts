import { contextBridge, ipcRenderer } from 'electron';
import type { Channel, EventName, Events, RolecallBridge } from '../ipc/contract.js';
import { channelNames, eventChannel, eventNames, invokeChannel } from '../ipc/channel-names.js';

/**
 * The only thing the renderer gets from Electron: `window.rolecall`, exactly
 * the RolecallBridge of the contract. Unknown channels and events are refused
 * here, before anything reaches the main process, and listeners get the
 * payload alone (never Electron's event object, which carries `sender`).
 * Runs sandboxed: bundled to one CommonJS file that requires only 'electron'.
 */
const knownChannels: ReadonlySet<string> = new Set(channelNames);
const knownEvents: ReadonlySet<string> = new Set(eventNames);

const bridge: RolecallBridge = {
  invoke(channel, request) {
    if (typeof channel !== 'string' || !knownChannels.has(channel)) {
      return Promise.reject(new Error(`unknown Rolecall channel "${String(channel)}"`));
    }
    return ipcRenderer.invoke(invokeChannel(channel as Channel), request);
  },
  on(event, listener) {
    if (typeof event !== 'string' || !knownEvents.has(event)) throw new Error(`unknown Rolecall event "${String(event)}"`);
    if (typeof listener !== 'function') throw new Error('a listener must be a function');
    const name = eventChannel(event as EventName);
    const forward = (_event: unknown, payload: Events[typeof event]) => listener(payload);
    ipcRenderer.on(name, forward);
    return () => {
      ipcRenderer.removeListener(name, forward);
    };
  },
};

contextBridge.exposeInMainWorld('rolecall', bridge);
