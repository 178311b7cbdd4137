import { z } from 'zod';
import type { Logger } from '../../core/log.js';
import { toFieldErrors, type FieldError } from '../../core/profiles/schema.js';
import { requestSchemas, type Channel, type IpcResult, type Responses } from '../contract.js';
import { toIpcError } from './error-mapping.js';

export { HandlerError, invalid, notFound } from './handler-error.js';

/** The validated request of a channel. */
export type Parsed<C extends Channel> = z.output<(typeof requestSchemas)[C]>;

export type Handler<C extends Channel> = (raw: unknown) => Promise<IpcResult<Responses[C]>>;

/**
 * Wraps a handler body: validates the raw input with the channel's schema,
 * turns every thrown error into a typed IpcError, and never throws itself.
 * Only the channel and the error are logged, never the request (it may hold
 * a password).
 */
export function defineHandler<C extends Channel>(
  channel: C,
  logger: Logger,
  body: (request: Parsed<C>) => Promise<Responses[C]>,
): Handler<C> {
  // Indexing the schema table by a generic channel loses the link to Parsed<C>; it holds by construction.
  const schema = requestSchemas[channel] as unknown as z.ZodType<Parsed<C>>;
  return async (raw) => {
    const parsed = schema.safeParse(raw ?? {});
    if (!parsed.success) {
      const fields = toFieldErrors(parsed.error);
      return { ok: false, error: { code: 'invalid', message: `the request for ${channel} is not valid: ${describe(fields)}`, fields } };
    }
    try {
      return { ok: true, value: await body(parsed.data) };
    } catch (e) {
      const error = toIpcError(e, channel);
      if (error.code === 'failed') logger.error({ channel, error: errorText(e) }, 'IPC handler failed');
      else logger.debug({ channel, code: error.code, detail: error.detail }, 'IPC handler answered with an error');
      return { ok: false, error };
    }
  };
}

function describe(fields: FieldError[]): string {
  return fields.map((f) => (f.path ? `${f.path}: ${f.message}` : f.message)).join('; ');
}

function errorText(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** Field errors relative to a part of the profile ("database" → "database.port"). */
export function prefixFields(prefix: string, fields: FieldError[]): FieldError[] {
  return fields.map((f) => ({ ...f, path: f.path ? `${prefix}.${f.path}` : prefix }));
}
