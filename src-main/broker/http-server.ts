import https from 'node:https';
import type net from 'node:net';
import type tls from 'node:tls';
import rateLimit from '@fastify/rate-limit';
import Fastify, { LogController, type FastifyRequest } from 'fastify';
import type { z } from 'zod';
import * as api from '../core/broker-api/schema.js';
import { internalError } from '../core/auth/denials.js';
import { ClientError, SqlState } from '../core/client-errors.js';
import { RetryLaterError, badRequest, errorReply } from './api-error.js';
import { apiJsonSchema } from './api-schema.js';
import type { BrokerFiles } from './config.js';
import type { BrokerDeps, Caller } from './deps.js';
import { accessCheck } from './endpoints/access-check.js';
import { catalog } from './endpoints/catalog.js';
import { revalidate } from './endpoints/revalidate.js';
import { signIn } from './endpoints/sign-in.js';
import { secondsSince, signInOutcome, type BrokerMetrics } from './metrics.js';
import { readiness } from './readiness.js';

export interface HttpState {
  draining: boolean;
}

/** Transport refusals fastify raises before a handler runs: the status stays, the body is the API's error shape. */
const TRANSPORT_MESSAGES: Record<string, string> = {
  FST_ERR_CTP_BODY_TOO_LARGE: `the request body is larger than ${api.MAX_BODY_BYTES} bytes`,
  FST_ERR_CTP_INVALID_MEDIA_TYPE: 'the request body must be JSON (Content-Type: application/json)',
  FST_ERR_CTP_EMPTY_JSON_BODY: 'the request body is empty; send a JSON object',
  FST_ERR_CTP_INVALID_CONTENT_LENGTH: 'the Content-Length does not match the body',
  FST_ERR_CTP_INVALID_JSON_BODY: 'the request body is not valid JSON',
};

/** A zod failure as one 400 naming each field (never quoting a value: it may be a password). */
function validationError(error: z.ZodError): ClientError {
  const issues = error.issues.map((i) => `${i.path.length > 0 ? i.path.join('.') : '(body)'}: ${i.message}`);
  return badRequest(`invalid request: ${issues[0] ?? 'the body does not match the API'}`, `See ${api.PATHS.schema} for the request's fields.`, issues.join('; '));
}

function callerOf(request: FastifyRequest): Caller {
  const socket = request.raw.socket as tls.TLSSocket;
  const peer = socket.authorized ? socket.getPeerCertificate() : undefined;
  const cn = peer?.subject?.CN;
  return { address: request.ip, ...(typeof cn === 'string' && cn.length > 0 ? { device: cn } : {}) };
}

/**
 * Caps open connections per client address, so one address holding many idle
 * connections cannot take every slot (maxConnections is the cap for all).
 */
function limitPerAddress(server: net.Server, max: number): void {
  const open = new Map<string, number>();
  server.on('connection', (socket: net.Socket) => {
    const address = socket.remoteAddress ?? '';
    const n = (open.get(address) ?? 0) + 1;
    if (n > max) {
      socket.destroy();
      return;
    }
    open.set(address, n);
    socket.once('close', () => {
      const left = (open.get(address) ?? 1) - 1;
      if (left <= 0) open.delete(address);
      else open.set(address, left);
    });
  });
}

/**
 * The broker's HTTPS API on fastify: TLS only (optionally with device
 * certificates), JSON only, bodies up to MAX_BODY_BYTES, every body checked
 * against the shared zod schemas (unknown fields refused), slow requests cut,
 * connections capped, a per-address rate limit on the API, one log line per
 * request without bodies or headers.
 */
/** The fastify instance the broker runs: an HTTPS server, our pino logger. */
export type BrokerHttpServer = Awaited<ReturnType<typeof buildHttpServer>>;

export async function buildHttpServer(deps: BrokerDeps, files: BrokerFiles, state: HttpState) {
  const listen = deps.config.listen;
  const app = Fastify({
    loggerInstance: deps.logger.child({ component: 'http' }),
    // our onResponse hook writes the one line per request; fastify's own request lines stay off
    logController: new LogController({ disableRequestLogging: true }),
    bodyLimit: api.MAX_BODY_BYTES,
    trustProxy: listen.trustProxy ?? false,
    // Draining: a request that still comes over an open connection is served (within listen.drainSeconds) and
    // its connection closed after the answer (below); a 503 would fail a sign-in that no other replica was asked.
    return503OnClosing: false,
    forceCloseConnections: 'idle',
    onProtoPoisoning: 'error',
    onConstructorPoisoning: 'error',
    serverFactory: (handler) => {
      const server = https.createServer(
        {
          cert: files.cert,
          key: files.key,
          minVersion: 'TLSv1.2',
          ...(files.clientCa === undefined ? {} : { ca: files.clientCa, requestCert: true, rejectUnauthorized: listen.tls.requireClientCert }),
          handshakeTimeout: listen.requestTimeoutMs,
          requestTimeout: listen.requestTimeoutMs,
          headersTimeout: listen.requestTimeoutMs,
          keepAliveTimeout: listen.keepAliveTimeoutMs,
          // Deadlines are checked this often (Node's default, 30 s, would let a slow body run three times too long).
          connectionsCheckingInterval: 1000,
        },
        handler,
      );
      server.maxConnections = listen.maxConnections;
      // A socket silent this long (no bytes either way, nothing in flight) is closed.
      server.setTimeout(60_000);
      limitPerAddress(server, listen.maxConnectionsPerAddress);
      return server;
    },
  });

  app.removeContentTypeParser('text/plain');
  await app.register(rateLimit, {
    global: true,
    max: deps.config.rateLimit.perAddressPerMinute,
    timeWindow: 60_000,
    errorResponseBuilder: (_req, ctx) =>
      new RetryLaterError(
        {
          sqlstate: SqlState.tooManyConnections,
          message: 'too many requests from this address',
          hint: `The broker accepts ${ctx.max} requests a minute from one address; wait ${Math.ceil(ctx.ttl / 1000)} s.`,
        },
        ctx.ttl / 1000,
      ),
  });

  app.addHook('onRequest', async (request, reply) => {
    // While draining, every answer ends its connection: the client's next request opens a new one, to another replica.
    if (state.draining) reply.header('connection', 'close');
    const socket = request.raw.socket as tls.TLSSocket;
    // Optional device certificates: one that is presented must verify.
    if (files.clientCa !== undefined && !socket.authorized && Object.keys(socket.getPeerCertificate() ?? {}).length > 0) {
      throw new ClientError({
        sqlstate: SqlState.invalidAuthorization,
        message: 'this device\'s client certificate is not trusted by the broker',
        detail: String(socket.authorizationError ?? 'not verified'),
        hint: 'Ask the team that runs the broker for a device certificate signed by its CA.',
      });
    }
  });
  app.addHook('onSend', async (_request, reply, payload) => {
    // Answers carry database passwords: never cached anywhere.
    reply.header('cache-control', 'no-store');
    return payload;
  });
  app.addHook('onResponse', async (request, reply) => {
    request.log.info({ method: request.method, url: request.url, status: reply.statusCode, ms: Math.round(reply.elapsedTime), client: request.ip }, 'request');
  });

  app.setErrorHandler((error, request, reply) => {
    if (error instanceof ClientError) {
      const { status, body } = errorReply(error);
      if (status >= 500) request.log.warn({ sqlstate: error.sqlstate, error: error.message, cause: causeOf(error) }, 'request failed');
      if (error instanceof RetryLaterError) reply.header('retry-after', String(body.error.retryAfterSeconds ?? 1));
      return reply.status(status).send(body);
    }
    const err = error as { code?: string; statusCode?: number; message?: string };
    const status = err.statusCode ?? 500;
    if (status >= 400 && status < 500) {
      const message = (err.code !== undefined ? TRANSPORT_MESSAGES[err.code] : undefined) ?? 'the request could not be read';
      return reply.status(status).send(errorReply(badRequest(message), status).body);
    }
    request.log.error({ error: err.message, code: err.code }, 'internal error');
    return reply.status(500).send(errorReply(internalError(error)).body);
  });
  app.setNotFoundHandler((request, reply) => {
    const path = request.url.split('?')[0]?.slice(0, 100) ?? '';
    reply.status(404).send(errorReply(badRequest(`no such endpoint: ${request.method} ${path}`, `See ${api.PATHS.schema}.`), 404).body);
  });

  const post = <Req, Res>(
    path: string,
    request: z.ZodType<Req>,
    response: z.ZodType<Res>,
    handle: (body: Req, caller: Caller) => Promise<Res>,
  ): void => {
    app.post(path, async (req) => {
      const parsed = request.safeParse(req.body);
      if (!parsed.success) throw validationError(parsed.error);
      // Our own answer must keep the contract too: a mismatch is a bug, said as one.
      return response.parse(await handle(parsed.data, callerOf(req)));
    });
  };
  post(api.PATHS.signIn, api.signInRequest, api.signInResponse, (body, caller) => counted(deps.metrics, () => signIn(deps, body, caller)));
  post(api.PATHS.catalog, api.catalogRequest, api.catalogResponse, (body) => catalog(deps, body));
  post(api.PATHS.revalidate, api.revalidateRequest, api.revalidateResponse, (body) => revalidate(deps, body));
  post(api.PATHS.accessCheck, api.accessCheckRequest, api.accessCheckResponse, (body) => accessCheck(deps, body));

  const schemaDocument = apiJsonSchema();
  const probe = { config: { rateLimit: false } } as const;
  app.get(api.PATHS.schema, probe, async () => schemaDocument);
  app.get(api.PATHS.healthz, probe, async () => ({ ok: true }));
  app.get(api.PATHS.readyz, probe, async (_req, reply) => {
    const ready = await readiness(deps, state.draining);
    return reply.status(ready.ready ? 200 : 503).send(ready);
  });
  return app;
}

/** A sign-in with its outcome, SQLSTATE and time recorded, whichever way it ends. */
async function counted<T>(metrics: BrokerMetrics, work: () => Promise<T>): Promise<T> {
  const start = process.hrtime.bigint();
  try {
    const value = await work();
    metrics.signIn('ok', '00000', secondsSince(start));
    return value;
  } catch (e) {
    const { outcome, sqlstate } = signInOutcome(e);
    metrics.signIn(outcome, sqlstate, secondsSince(start));
    throw e;
  }
}

function causeOf(e: Error): string | undefined {
  const cause = (e as { cause?: unknown }).cause;
  return cause instanceof Error ? cause.message : undefined;
}
