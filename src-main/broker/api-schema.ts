import { z } from 'zod';
import * as api from '../core/broker-api/schema.js';

/**
 * GET /v1/schema.json: the API described as JSON Schema (draft 2020-12),
 * generated from the same zod schemas both sides validate with
 * (core/broker-api/schema.ts), so it cannot drift from what is enforced.
 */
export function apiJsonSchema(): Record<string, unknown> {
  const json = (s: z.ZodType) => z.toJSONSchema(s, { io: 'input', unrepresentable: 'any' });
  const endpoint = (request: z.ZodType, response: z.ZodType) => ({ method: 'POST', request: json(request), response: json(response) });
  return {
    title: 'Rolecall team broker API',
    version: api.API_VERSION,
    maxBodyBytes: api.MAX_BODY_BYTES,
    contentType: 'application/json',
    endpoints: {
      [api.PATHS.signIn]: endpoint(api.signInRequest, api.signInResponse),
      [api.PATHS.catalog]: endpoint(api.catalogRequest, api.catalogResponse),
      [api.PATHS.revalidate]: endpoint(api.revalidateRequest, api.revalidateResponse),
      [api.PATHS.accessCheck]: endpoint(api.accessCheckRequest, api.accessCheckResponse),
      [api.PATHS.readyz]: { method: 'GET', response: json(api.readyResponse) },
      [api.PATHS.healthz]: { method: 'GET' },
    },
    error: json(api.errorBody),
  };
}
