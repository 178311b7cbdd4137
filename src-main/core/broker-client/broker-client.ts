import { readFileSync } from 'node:fs';
import https from 'node:https';
import type { z } from 'zod';
import {
  PATHS,
  accessCheckResponse,
  catalogResponse,
  errorBody,
  readyResponse,
  revalidateResponse,
  signInResponse,
  type AccessCheckRequest,
  type AccessCheckResponse,
  type CatalogRequest,
  type CatalogResponse,
  type ReadyResponse,
  type RevalidateRequest,
  type RevalidateResponse,
  type SignInRequest,
  type SignInResponse,
} from '../broker-api/schema.js';
import { ServerHealth } from '../directory/server-health.js';
import { silentLogger, type Logger } from '../log.js';
import { normalizeBrokerUrl, type BrokerConfig } from '../profiles/schema.js';
import { BrokerFailure, type UrlFailure } from './broker-failure.js';
import { httpsJson, TransportError, type HttpsJsonResponse } from './https-json.js';

/** Sign-in and revalidation answers are small; a catalog carries CA bundles (the RDS one is ~170 KB). */
const SMALL_ANSWER_BYTES = 64 * 1024;
const CATALOG_ANSWER_BYTES = 8 * 1024 * 1024;

export interface BrokerAnswer<T> {
  value: T;
  /** The broker URL that answered. */
  url: string;
  /** The broker's clock when it answered (its Date header), to measure its times against. */
  serverDate: number | undefined;
}

/** One broker URL's readiness as `rolecall doctor` shows it. */
export interface BrokerProbe {
  url: string;
  status: number;
  tls: HttpsJsonResponse['tls'];
  /** The readiness report, or null when the answer was not one. */
  ready: ReadyResponse | null;
}

/** The settings the client uses (a profile's `broker`, or what `profiles import --broker` was given). */
export type BrokerClientConfig = Pick<BrokerConfig, 'urls' | 'caFile' | 'connectTimeoutMs' | 'timeoutMs' | 'deadUrlSeconds'>;

const RANK: Record<string, number> = { answer: 3, certificate: 2, unreachable: 1 };

/**
 * The laptop's side of the broker's HTTP API v1: JSON over HTTPS with the
 * certificate and host name verified (broker.caFile, else Node's trusted
 * roots), strict timeouts, every answer validated with the API's schemas.
 * Several URLs: on a connection failure, timeout or 5xx the next is tried
 * (never after a definite answer such as 28P01, 28000 or 429), and a URL that
 * failed is tried after the others for deadUrlSeconds (ServerHealth, as for
 * directory servers). Throws BrokerFailure.
 */
export class BrokerClient {
  readonly urls: string[];
  private readonly targets: { url: string }[];
  private readonly health: ServerHealth;
  private readonly agent: https.Agent;
  /** For a request sent again: always a new connection (the kept ones may go to the same dying replica). */
  private readonly freshAgent: https.Agent;

  constructor(
    private readonly config: BrokerClientConfig,
    private readonly logger: Logger = silentLogger,
    now: () => number = Date.now,
  ) {
    this.urls = config.urls.map(normalizeBrokerUrl);
    this.targets = this.urls.map((url) => ({ url }));
    this.health = new ServerHealth(config.deadUrlSeconds * 1000, now);
    let ca: Buffer | undefined;
    if (config.caFile !== undefined) {
      try {
        ca = readFileSync(config.caFile);
      } catch (e) {
        throw new BrokerFailure('ca-file', `cannot read broker.caFile ${config.caFile}: ${(e as Error).message}`, {
          url: this.urls[0] ?? '',
          tried: [],
        });
      }
    }
    // Kept connections: a sign-in after the first costs no TCP or TLS handshake.
    this.agent = new https.Agent({ keepAlive: true, maxSockets: 8, maxFreeSockets: 2, minVersion: 'TLSv1.2', ...(ca ? { ca } : {}) });
    this.freshAgent = new https.Agent({ keepAlive: false, minVersion: 'TLSv1.2', ...(ca ? { ca } : {}) });
  }

  signIn(request: SignInRequest): Promise<BrokerAnswer<SignInResponse>> {
    return this.post(PATHS.signIn, request, signInResponse, SMALL_ANSWER_BYTES);
  }

  catalog(request: CatalogRequest): Promise<BrokerAnswer<CatalogResponse>> {
    return this.post(PATHS.catalog, request, catalogResponse, CATALOG_ANSWER_BYTES);
  }

  revalidate(request: RevalidateRequest): Promise<BrokerAnswer<RevalidateResponse>> {
    return this.post(PATHS.revalidate, request, revalidateResponse, SMALL_ANSWER_BYTES);
  }

  /** The dry run: the caller's (or subject's) groups and what a sign-in would grant, answered with the broker's service account. */
  accessCheck(request: AccessCheckRequest): Promise<BrokerAnswer<AccessCheckResponse>> {
    return this.post(PATHS.accessCheck, request, accessCheckResponse, SMALL_ANSWER_BYTES);
  }

  /** GET /readyz on one URL (no failover): TLS, certificate, readiness. Throws BrokerFailure when no answer came. */
  async probe(url: string): Promise<BrokerProbe> {
    try {
      const r = await this.exchange(url, 'GET', PATHS.readyz, undefined, SMALL_ANSWER_BYTES);
      const ready = readyResponse.safeParse(r.json);
      return { url, status: r.status, tls: r.tls, ready: ready.success ? ready.data : null };
    } catch (e) {
      throw this.asFailure(e, url);
    }
  }

  close(): void {
    this.agent.destroy();
    this.freshAgent.destroy();
  }

  private async post<T>(path: string, body: unknown, schema: z.ZodType<T>, maxBytes: number): Promise<BrokerAnswer<T>> {
    const tried: UrlFailure[] = [];
    let best: BrokerFailure | undefined;
    for (const target of this.health.order(this.targets)) {
      try {
        const r = await this.exchange(target.url, 'POST', path, body, maxBytes);
        const value = this.read(r, schema, target.url);
        this.health.up(target);
        return { value, url: target.url, serverDate: r.serverDate };
      } catch (e) {
        const failure = this.asFailure(e, target.url);
        tried.push({ url: target.url, reason: failure.message });
        const moveOn = failure.kind === 'unreachable' || failure.kind === 'certificate' || (failure.kind === 'answer' && (failure.details.status ?? 0) >= 500);
        this.logger.warn(
          { url: target.url, path, failure: failure.kind, sqlstate: failure.details.error?.sqlstate, reason: failure.message, next: moveOn },
          'the broker gave no usable answer',
        );
        if (!moveOn) throw withTried(failure, tried);
        this.health.down(target, failure.message);
        if (!best || (RANK[failure.kind] ?? 0) >= (RANK[best.kind] ?? 0)) best = failure;
      }
    }
    if (!best || best.kind === 'unreachable') {
      throw new BrokerFailure('unreachable', `the team broker at ${this.urls.join(', ')} is not reachable`, { url: best?.details.url ?? '', tried });
    }
    throw withTried(best, tried);
  }

  /**
   * One request to one URL. A connection that broke after it was up (a kept
   * one the server had closed, or a replica that died in the TLS handshake or
   * mid-request behind a load balancer) is tried once more: behind a load
   * balancer that reaches another replica, and a lone broker that is gone
   * refuses it at once. A refused connection or a timeout is not repeated. A sign-in is safe to send twice: within a window the
   * same password and verifier are synced (the second writes no audit row), and
   * a wrong password the first attempt recorded is answered 28P01 from the
   * throttle without another directory bind.
   */
  private async exchange(base: string, method: 'GET' | 'POST', path: string, body: unknown, maxBytes: number): Promise<HttpsJsonResponse> {
    const request = {
      url: new URL(`${base}${path}`),
      method,
      body,
      agent: this.agent,
      connectTimeoutMs: this.config.connectTimeoutMs,
      timeoutMs: this.config.timeoutMs,
      maxBytes,
    };
    try {
      return await httpsJson(request);
    } catch (e) {
      if (!(e instanceof TransportError && e.connected && e.failure === 'unreachable')) throw e;
      this.logger.info({ url: base, path, reason: e.message, reused: e.reusedConnection }, 'the connection to the broker broke before its answer: sending the request once more, on a new connection');
      return httpsJson({ ...request, agent: this.freshAgent });
    }
  }

  /** A 2xx answer must match the schema; anything else must be an API error body, else it is not the broker's answer. */
  private read<T>(r: HttpsJsonResponse, schema: z.ZodType<T>, url: string): T {
    if (r.status >= 200 && r.status < 300) {
      const parsed = schema.safeParse(r.json);
      if (parsed.success) return parsed.data;
      const why = r.json === undefined ? `not JSON (${printable(r.excerpt)})` : issues(parsed.error);
      throw new BrokerFailure('malformed', `the team broker at ${url} sent an answer Rolecall cannot read: ${why}`, { url, tried: [], status: r.status });
    }
    const error = errorBody.safeParse(r.json);
    if (error.success) throw new BrokerFailure('answer', error.data.error.message, { url, tried: [], status: r.status, error: error.data.error });
    const what = `HTTP ${r.status} without a Rolecall error (${r.json === undefined ? printable(r.excerpt) : issues(error.error)})`;
    // A 5xx from something in front of the broker (a load balancer, a proxy) means this replica is not there.
    if (r.status >= 500) throw new BrokerFailure('unreachable', `${url} answered ${what}`, { url, tried: [], status: r.status });
    throw new BrokerFailure('malformed', `the team broker at ${url} sent an answer Rolecall cannot read: ${what}; is ${url} the broker's address?`, {
      url,
      tried: [],
      status: r.status,
    });
  }

  private asFailure(e: unknown, url: string): BrokerFailure {
    if (e instanceof BrokerFailure) return e;
    if (e instanceof TransportError) {
      if (e.failure === 'certificate') {
        return new BrokerFailure('certificate', `the team broker's certificate at ${url} could not be verified: ${e.message}`, { url, tried: [] });
      }
      if (e.failure === 'too-large') {
        return new BrokerFailure('malformed', `the team broker at ${url} sent an answer Rolecall cannot read: ${e.message}`, { url, tried: [] });
      }
      return new BrokerFailure('unreachable', `${url}: ${e.message}`, { url, tried: [] });
    }
    return new BrokerFailure('unreachable', `${url}: ${e instanceof Error ? e.message : String(e)}`, { url, tried: [] });
  }
}

function withTried(f: BrokerFailure, tried: UrlFailure[]): BrokerFailure {
  return new BrokerFailure(f.kind, f.message, { ...f.details, tried });
}

/** The first few schema problems by field, never the values (an answer may hold a password). */
function issues(error: z.ZodError): string {
  const list = error.issues.slice(0, 3).map((i) => `${i.path.length ? i.path.join('.') : 'the answer'}: ${i.message}`);
  return list.join('; ') + (error.issues.length > 3 ? `; and ${error.issues.length - 3} more` : '');
}

function printable(text: string): string {
  const clean = text.replace(/[\u0000-\u001f\u007f]+/g, ' ').trim().slice(0, 80);
  return clean === '' ? 'an empty body' : `"${clean}${text.length > 80 ? '…' : ''}"`;
}
