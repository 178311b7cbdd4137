import type { FieldError } from '../../core/profiles/schema.js';
import type { IpcError } from '../contract.js';

/**
 * A failure a handler means to report as is: thrown inside a handler body,
 * returned to the renderer unchanged.
 */
export class HandlerError extends Error {
  constructor(readonly error: IpcError) {
    super(error.message);
    this.name = 'HandlerError';
  }
}

export function invalid(message: string, fields: FieldError[] = []): HandlerError {
  return new HandlerError({ code: 'invalid', message, fields });
}

export function notFound(message: string): HandlerError {
  return new HandlerError({ code: 'not-found', message });
}
