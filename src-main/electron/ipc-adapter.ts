import type { IpcMain, IpcMainInvokeEvent } from 'electron';
import type { ConnectionEvent, ProxyStatus } from '../core/proxy/profile-proxy.js';
import { eventChannel, invokeChannel } from '../ipc/channel-names.js';
import { channels, type Channel, type IpcResult } from '../ipc/contract.js';
import type { ProxyEventSource } from '../ipc/event-source.js';
import type { HandlerMap } from '../ipc/handlers/types.js';

/**
 * Serves the contract's handlers on Electron's ipcMain and pushes the engine's
 * events to the window. The handlers (src-main/ipc/handlers) validate and do
 * the work; this file only moves calls and answers, and refuses callers that
 * are not the app's own page.
 */

export interface IpcAdapterOptions {
  /** True for the URL of the app's own renderer page; every other frame is refused. */
  isTrustedSender(url: string): boolean;
  /** Called after each answered call (the tray refreshes after profile and proxy changes). */
  onHandled?(channel: Channel, result: IpcResult<unknown>): void;
}

/** Registers every channel; returns a function that removes them again. Throws when a channel has no handler. */
export function registerIpcHandlers(
  ipcMain: Pick<IpcMain, 'handle' | 'removeHandler'>,
  handlers: HandlerMap,
  options: IpcAdapterOptions,
): () => void {
  const missing = channels.filter((c) => typeof handlers[c] !== 'function');
  if (missing.length > 0) throw new Error(`no IPC handler for: ${missing.join(', ')}`);
  for (const channel of channels) {
    ipcMain.handle(invokeChannel(channel), async (event: IpcMainInvokeEvent, raw: unknown): Promise<IpcResult<unknown>> => {
      const url = senderUrl(event);
      if (url === null || !options.isTrustedSender(url)) {
        return { ok: false, error: { code: 'refused', message: 'this page may not call Rolecall' } };
      }
      let result: IpcResult<unknown>;
      try {
        result = await handlers[channel](raw);
      } catch (e) {
        // Handlers answer with typed errors; a throw is a bug, still shown as a result, not a rejected promise.
        result = { ok: false, error: { code: 'failed', message: e instanceof Error ? e.message : String(e) } };
      }
      options.onHandled?.(channel, result);
      return result;
    });
  }
  return () => {
    for (const channel of channels) ipcMain.removeHandler(invokeChannel(channel));
  };
}

function senderUrl(event: IpcMainInvokeEvent): string | null {
  try {
    // senderFrame is null once the frame navigated away or was destroyed.
    return event.senderFrame?.url ?? null;
  } catch {
    return null;
  }
}

/** The window's webContents, or null while there is no window. */
export interface EventTarget {
  send(channel: string, payload: unknown): void;
  isDestroyed(): boolean;
}

/** Forwards proxy status and connection events to the window while it exists; returns an unsubscribe. */
export function forwardProxyEvents(source: ProxyEventSource, target: () => EventTarget | null): () => void {
  const send = (channel: string, payload: unknown) => {
    const wc = target();
    if (wc && !wc.isDestroyed()) wc.send(channel, payload);
  };
  const onStatus = (s: ProxyStatus) => send(eventChannel('proxies.status'), s);
  const onConnection = (e: ConnectionEvent) => send(eventChannel('proxies.connection'), e);
  source.on('status', onStatus);
  source.on('connection', onConnection);
  return () => {
    source.off('status', onStatus);
    source.off('connection', onConnection);
  };
}
