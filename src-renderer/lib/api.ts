import type { Channel, IpcError, IpcResult, Request, Responses } from '../../src-main/ipc/contract.js';
import { getBridge } from './bridge-client.js';

/** An IPC failure carried as an exception, so pages can `try` a call and still show field errors. */
export class ApiError extends Error {
  constructor(readonly error: IpcError) {
    super(error.message);
    this.name = 'ApiError';
  }
}

/** One request through the contract; the result as it came (ok or a typed error). */
export async function invoke<C extends Channel>(channel: C, request: Request<C>): Promise<IpcResult<Responses[C]>> {
  try {
    return await getBridge().invoke(channel, request);
  } catch (e) {
    // The bridge itself failed (app closing, web bridge gone): say so in the same shape.
    return { ok: false, error: { code: 'unavailable', message: e instanceof Error ? e.message : String(e) } };
  }
}

/** Like invoke, but answers with the value and throws ApiError otherwise. */
export async function call<C extends Channel>(channel: C, request: Request<C>): Promise<Responses[C]> {
  const result = await invoke(channel, request);
  if (!result.ok) throw new ApiError(result.error);
  return result.value;
}

/** A message fit for the page, whatever was thrown. */
export function messageOf(e: unknown): string {
  if (e instanceof ApiError) return e.error.detail ? `${e.error.message} (${e.error.detail})` : e.error.message;
  return e instanceof Error ? e.message : String(e);
}
