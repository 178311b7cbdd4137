import type { Channel, IpcResult, Responses } from '../contract.js';
import type { Handler } from './result.js';

/** The handlers of some channels: each area file builds one of these. */
export type HandlersFor<K extends Channel> = { [C in K]: Handler<C> };

/**
 * One handler per channel, as createHandlers(ctx) builds them: raw input in, a
 * typed result out, never a throw. Electron's IPC (electron/ipc-adapter.ts)
 * and the web bridge serve the same map.
 */
export type HandlerMap = { [C in Channel]: (raw: unknown) => Promise<IpcResult<Responses[C]>> };
