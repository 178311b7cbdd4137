import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto';
import { deriveScramKeys, type ScramKeys } from '../../sync/scram-verifier.js';

export const SCRAM_MECHANISM = 'SCRAM-SHA-256';
/** Far above any sane setting: refuse rather than let a server make us spin on PBKDF2. */
export const MAX_SCRAM_ITERATIONS = 10_000_000;
/** No channel binding: we do not use tls-server-end-point, and say so honestly ("n"). */
const GS2_HEADER = 'n,,';

export class ScramError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'ScramError';
  }
}

/**
 * Cache of derived keys for ONE (user, password): PBKDF2 is the slow part of a
 * login and the server's salt and iteration count rarely change.
 */
export type ScramKeyCache = Map<string, ScramKeys>;

export function scramKeyCacheKey(salt: Buffer, iterations: number): string {
  return `${iterations}:${salt.toString('base64')}`;
}

interface ServerFirst {
  nonce: string;
  salt: Buffer;
  iterations: number;
}

const BASE64_RE = /^(?:[A-Za-z0-9+/]{4})*(?:[A-Za-z0-9+/]{2}==|[A-Za-z0-9+/]{3}=)?$/;

function parseAttributes(message: string): Map<string, string> {
  const attrs = new Map<string, string>();
  for (const part of message.split(',')) {
    if (part.length < 2 || part[1] !== '=') throw new ScramError(`malformed SCRAM message from server: ${JSON.stringify(message)}`);
    const name = part[0] as string;
    if (!attrs.has(name)) attrs.set(name, part.slice(2));
  }
  return attrs;
}

function parseServerFirst(message: string, clientNonce: string): ServerFirst {
  const attrs = parseAttributes(message);
  if (attrs.has('m')) throw new ScramError('server requires an unsupported SCRAM extension');
  const nonce = attrs.get('r');
  const saltB64 = attrs.get('s');
  const iterText = attrs.get('i');
  if (nonce === undefined || saltB64 === undefined || iterText === undefined) {
    throw new ScramError('SCRAM server-first-message lacks nonce, salt or iteration count');
  }
  // The server appends to our nonce: anything else is a replay or a confused server.
  if (!nonce.startsWith(clientNonce) || nonce.length === clientNonce.length) {
    throw new ScramError('SCRAM server nonce does not extend the client nonce');
  }
  if (saltB64.length === 0 || !BASE64_RE.test(saltB64)) throw new ScramError('SCRAM salt is not valid base64');
  if (!/^[1-9][0-9]{0,9}$/.test(iterText)) throw new ScramError(`SCRAM iteration count is invalid: ${iterText}`);
  const iterations = Number(iterText);
  if (iterations > MAX_SCRAM_ITERATIONS) {
    throw new ScramError(`SCRAM iteration count ${iterations} exceeds the limit of ${MAX_SCRAM_ITERATIONS}`);
  }
  return { nonce, salt: Buffer.from(saltB64, 'base64'), iterations };
}

/**
 * Client side of SCRAM-SHA-256 (RFC 5802 / 7677) as PostgreSQL speaks it.
 * Mutual: `verifyServerFinal` checks the server knew the password too.
 * Steps must be called in order: clientFirst → clientFinal → verifyServerFinal.
 */
export class ScramClient {
  private readonly password: string;
  private readonly clientFirstBare: string;
  private readonly keyCache: ScramKeyCache | undefined;
  private expectedServerSignature: Buffer | undefined;
  readonly nonce: string;

  constructor(options: { password: string; user?: string; nonce?: string; keyCache?: ScramKeyCache }) {
    this.password = options.password;
    this.nonce = options.nonce ?? randomBytes(18).toString('base64');
    if (this.nonce.includes(',') || this.nonce.length === 0) throw new ScramError('invalid SCRAM client nonce');
    // PostgreSQL ignores the SCRAM user name (it uses the startup packet's); libpq sends it empty.
    const user = (options.user ?? '').replace(/=/g, '=3D').replace(/,/g, '=2C');
    this.clientFirstBare = `n=${user},r=${this.nonce}`;
    this.keyCache = options.keyCache;
  }

  /** client-first-message, the initial response of SASLInitialResponse. */
  clientFirst(): string {
    return GS2_HEADER + this.clientFirstBare;
  }

  /** Validates server-first-message and returns client-final-message with the proof. */
  clientFinal(serverFirst: string): string {
    const { nonce, salt, iterations } = parseServerFirst(serverFirst, this.nonce);
    const keys = this.keys(salt, iterations);
    const withoutProof = `c=${Buffer.from(GS2_HEADER).toString('base64')},r=${nonce}`;
    const authMessage = `${this.clientFirstBare},${serverFirst},${withoutProof}`;
    const clientSignature = createHmac('sha256', keys.storedKey).update(authMessage).digest();
    const proof = Buffer.alloc(clientSignature.length);
    for (let i = 0; i < proof.length; i++) proof[i] = (keys.clientKey[i] as number) ^ (clientSignature[i] as number);
    this.expectedServerSignature = createHmac('sha256', keys.serverKey).update(authMessage).digest();
    return `${withoutProof},p=${proof.toString('base64')}`;
  }

  /** Throws unless server-final-message carries the signature only a holder of the verifier can compute. */
  verifyServerFinal(serverFinal: string): void {
    if (this.expectedServerSignature === undefined) throw new ScramError('SCRAM server-final received before client-final');
    const attrs = parseAttributes(serverFinal);
    const error = attrs.get('e');
    if (error !== undefined) throw new ScramError(`SCRAM authentication failed on the server: ${error}`);
    const v = attrs.get('v');
    if (v === undefined || !BASE64_RE.test(v)) throw new ScramError('SCRAM server-final-message lacks a valid signature');
    const got = Buffer.from(v, 'base64');
    if (got.length !== this.expectedServerSignature.length || !timingSafeEqual(got, this.expectedServerSignature)) {
      throw new ScramError('SCRAM server signature does not match: the server could not prove it knows the password');
    }
  }

  private keys(salt: Buffer, iterations: number): ScramKeys {
    const cacheKey = scramKeyCacheKey(salt, iterations);
    const cached = this.keyCache?.get(cacheKey);
    if (cached) return cached;
    const keys = deriveScramKeys(this.password, salt, iterations);
    this.keyCache?.set(cacheKey, keys);
    return keys;
  }
}

