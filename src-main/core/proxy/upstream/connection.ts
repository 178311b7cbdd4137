import type net from 'node:net';
import type tls from 'node:tls';
import { frames } from './frame-reader.js';
import type { ScramKeyCache } from './scram-client.js';
import { BackendCode } from '../wire.js';

export interface UpstreamLogin {
  user: string;
  password: string;
  /** Startup parameters (database, application_name, client_encoding, options...); `user` is set from `user`. */
  params: Record<string, string>;
  /** Optional cache of SCRAM keys for this (user, password): skips PBKDF2 when salt and iterations are unchanged. */
  scramKeyCache?: ScramKeyCache;
}

export type UpstreamAuthMethod = 'scram-sha-256' | 'md5' | 'password' | 'trust';

export interface UpstreamConnection {
  /** Paused, with none of our listeners left: ready to be piped. */
  socket: net.Socket | tls.TLSSocket;
  /**
   * Bytes to forward to the client verbatim, exactly as the server sent them:
   * AuthenticationOk, ParameterStatus, BackendKeyData, NoticeResponse, ReadyForQuery,
   * followed by anything (normally nothing) the server sent after ReadyForQuery.
   */
  greeting: Buffer;
  backendKey: { pid: number; key: Buffer } | null;
  /** The server's ParameterStatus values (server_version, TimeZone...), as in the greeting. */
  readonly parameters: Record<string, string>;
  tls: boolean;
  authMethod: UpstreamAuthMethod;
}

/**
 * What an open connection holds for the whole session, kept small: one
 * thousand idle clients hold one thousand of these. The greeting is one
 * buffer of its own (not a slice of Node's shared 8 KB pool, which a long-lived
 * slice would pin), the backend key is a view into it, and the parameters are
 * read from it only when asked for.
 */
export class OpenConnection implements UpstreamConnection {
  readonly backendKey: { pid: number; key: Buffer } | null;
  readonly greeting: Buffer;

  constructor(
    readonly socket: net.Socket | tls.TLSSocket,
    greeting: Buffer[],
    readonly tls: boolean,
    readonly authMethod: UpstreamAuthMethod,
  ) {
    this.greeting = ownBuffer(greeting);
    this.backendKey = null;
    for (const [code, start, end] of frames(this.greeting)) {
      // Read by hand: the key may be longer than 4 bytes (protocol 3.2).
      if (code === BackendCode.backendKeyData) this.backendKey = { pid: this.greeting.readInt32BE(start), key: this.greeting.subarray(start + 4, end) };
    }
  }

  get parameters(): Record<string, string> {
    const parameters: Record<string, string> = {};
    for (const [code, start, end] of frames(this.greeting)) {
      if (code !== BackendCode.parameterStatus) continue;
      const nul = this.greeting.indexOf(0, start);
      if (nul < 0 || nul >= end) continue;
      parameters[this.greeting.toString('utf8', start, nul)] = this.greeting.toString('utf8', nul + 1, Math.max(nul + 1, end - 1));
    }
    return parameters;
  }
}

/** Concatenates into a buffer of exactly that size, outside Node's shared pool (see OpenConnection). */
function ownBuffer(parts: Buffer[]): Buffer {
  let length = 0;
  for (const p of parts) length += p.length;
  const out = Buffer.allocUnsafeSlow(length);
  let offset = 0;
  for (const p of parts) offset += p.copy(out, offset);
  return out;
}
