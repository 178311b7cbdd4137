import type { Channel } from '../contract.js';
import type { Handler } from './result.js';

/** The handlers of some channels: each area file builds one of these. */
export type HandlersFor<K extends Channel> = { [C in K]: Handler<C> };
