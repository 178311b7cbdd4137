import { EventEmitter } from 'node:events';
import { describe, expect, it } from 'vitest';
import { forwardProxyEvents, registerIpcHandlers } from '../../src-main/electron/ipc-adapter.js';
import type { HandlerMap } from '../../src-main/ipc/handlers/types.js';
import { channels } from '../../src-main/ipc/contract.js';

// The adapter between Electron's ipcMain and the contract's handlers, with a
// recording ipcMain (no Electron binary on this machine).

function recordingIpcMain() {
  const handlers = new Map<string, (event: unknown, raw: unknown) => Promise<unknown>>();
  return {
    handlers,
    handle: (c: string, f: (event: unknown, raw: unknown) => Promise<unknown>) => void handlers.set(c, f),
    removeHandler: (c: string) => void handlers.delete(c),
  };
}

function allHandlers(impl: (channel: string, raw: unknown) => Promise<unknown>): HandlerMap {
  return Object.fromEntries(channels.map((c) => [c, (raw: unknown) => impl(c, raw)])) as HandlerMap;
}

const trusted = { isTrustedSender: (url: string) => url === 'file:///app/index.html' };

describe('registerIpcHandlers', () => {
  it('refuses to start with a channel that has no handler', () => {
    const partial = { ...allHandlers(async () => ({ ok: true, value: null })) } as Partial<HandlerMap>;
    delete partial['history.clear'];
    expect(() => registerIpcHandlers(recordingIpcMain() as never, partial as HandlerMap, trusted)).toThrow(/no IPC handler for: history.clear/);
  });

  it('turns a handler that throws into a typed failure instead of a rejected call', async () => {
    const ipc = recordingIpcMain();
    registerIpcHandlers(ipc as never, allHandlers(async () => {
      throw new Error('database is locked');
    }), trusted);
    const answer = await ipc.handlers.get('rolecall:invoke:history.clear')!({ senderFrame: { url: 'file:///app/index.html' } }, {});
    expect(answer).toEqual({ ok: false, error: { code: 'failed', message: 'database is locked' } });
  });

  it('passes the raw request through and tells onHandled which channel answered', async () => {
    const ipc = recordingIpcMain();
    const seen: string[] = [];
    registerIpcHandlers(ipc as never, allHandlers(async (c, raw) => ({ ok: true, value: { c, raw } })), {
      ...trusted,
      onHandled: (c) => seen.push(c),
    });
    const answer = await ipc.handlers.get('rolecall:invoke:proxies.start')!({ senderFrame: { url: 'file:///app/index.html' } }, { id: 'hr' });
    expect(answer).toEqual({ ok: true, value: { c: 'proxies.start', raw: { id: 'hr' } } });
    expect(seen).toEqual(['proxies.start']);
  });

  it('refuses a frame that is gone or foreign without calling the handler', async () => {
    const ipc = recordingIpcMain();
    let called = 0;
    registerIpcHandlers(ipc as never, allHandlers(async () => {
      called++;
      return { ok: true, value: null };
    }), trusted);
    for (const event of [{ senderFrame: null }, { senderFrame: { url: 'https://example.com/' } }, {}]) {
      expect(await ipc.handlers.get('rolecall:invoke:profiles.list')!(event, {})).toMatchObject({ ok: false, error: { code: 'refused' } });
    }
    expect(called).toBe(0);
  });

  it('removes every handler again', () => {
    const ipc = recordingIpcMain();
    const remove = registerIpcHandlers(ipc as never, allHandlers(async () => ({ ok: true, value: null })), trusted);
    expect(ipc.handlers.size).toBe(channels.length);
    remove();
    expect(ipc.handlers.size).toBe(0);
  });
});

describe('forwardProxyEvents', () => {
  it('sends status and connection events to the window while it exists, and stops when told', () => {
    const service = new EventEmitter();
    const sent: [string, unknown][] = [];
    let window: { send(c: string, p: unknown): void; isDestroyed(): boolean } | null = null;
    const stop = forwardProxyEvents(service as never, () => window);
    service.emit('status', { state: 'running' }); // no window: dropped, no throw
    window = { send: (c, p) => sent.push([c, p]), isDestroyed: () => false };
    service.emit('status', { state: 'running' });
    service.emit('connection', { outcome: 'denied' });
    window = { send: () => sent.push(['destroyed', null]), isDestroyed: () => true };
    service.emit('status', { state: 'stopped' });
    stop();
    expect(service.listenerCount('status') + service.listenerCount('connection')).toBe(0);
    expect(sent).toEqual([
      ['rolecall:event:proxies.status', { state: 'running' }],
      ['rolecall:event:proxies.connection', { outcome: 'denied' }],
    ]);
  });
});
