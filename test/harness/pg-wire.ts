import net from 'node:net';
import type { Duplex } from 'node:stream';
import tls from 'node:tls';
import {
  CANCEL_REQUEST_CODE,
  parameterList,
  startupPacket,
  message,
  passwordMessage,
  queryMessage,
  cancelRequest,
  SSL_REQUEST,
  GSSENC_REQUEST,
} from '../../src-main/core/proxy/wire.js';

/**
 * Frontend messages for tests that must send what no client library would,
 * and a byte-exact reader of what comes back. Well-formed packets come from
 * the proxy's own builders (src-main/core/proxy/wire.ts); only the broken ones
 * (a lying length, a missing terminator) are made here.
 */

export { SSL_REQUEST, GSSENC_REQUEST, message, passwordMessage, queryMessage, cancelRequest };
export const CANCEL_CODE = CANCEL_REQUEST_CODE;

/** A length-prefixed startup-phase packet with a declared length that may lie: length, 32-bit code, then body bytes. */
export function packet(length: number, code: number, body: Buffer = Buffer.alloc(0)): Buffer {
  const head = Buffer.alloc(8);
  head.writeUInt32BE(length >>> 0, 0);
  head.writeUInt32BE(code >>> 0, 4);
  return Buffer.concat([head, body]);
}

/** The CancelRequest for a node-postgres client's backend (pg keeps the 3.0 secret key as a signed int32). */
export function pgCancelRequest(processID: number, secretKey: number): Buffer {
  const key = Buffer.alloc(4);
  key.writeInt32BE(secretKey, 0);
  return cancelRequest(processID, key);
}

/**
 * Starts a 30 s query on a node-postgres client connected through the proxy at
 * `port`, sends its CancelRequest to the proxy (as psql's Ctrl-C does) and
 * resolves with how the query ended: '57014' when the cancel reached the
 * server, 'finished' when it did not.
 */
export async function cancelThroughProxy(port: number, client: { query(sql: string): Promise<unknown> }): Promise<string | undefined> {
  const { processID, secretKey } = client as unknown as { processID: number; secretKey: number };
  const running = client.query('select pg_sleep(30)').then(
    () => 'finished',
    (e: Error & { code?: string }) => e.code,
  );
  await new Promise((r) => setTimeout(r, 300));
  const s = net.connect(port, '127.0.0.1', () => s.end(pgCancelRequest(processID, secretKey)));
  return running;
}

/** name\0value\0 pairs; `terminator: false` leaves out the final NUL. */
export function startupBody(pairs: Array<[string, string]>, terminator = true): Buffer {
  const body = parameterList(pairs);
  return terminator ? body : body.subarray(0, body.length - 1);
}

/** A StartupMessage with a correct length; version defaults to 3.0. */
export function startupMessage(pairs: Array<[string, string]>, major = 3, minor = 0, terminator = true): Buffer {
  return startupPacket((major << 16) | minor, startupBody(pairs, terminator));
}

export interface BackendMessage {
  type: string;
  body: Buffer;
}

/** ErrorResponse / NoticeResponse fields by their one-letter code (C = SQLSTATE, M = message). */
export function errorFields(body: Buffer): Record<string, string> {
  const out: Record<string, string> = {};
  let i = 0;
  while (i < body.length && body[i] !== 0) {
    const end = body.indexOf(0, i + 1);
    out[String.fromCharCode(body[i]!)] = body.toString('utf8', i + 1, end);
    i = end + 1;
  }
  return out;
}

/** NUL-terminated strings in a body, from offset. */
export function cstrings(body: Buffer, offset = 0): string[] {
  const out: string[] = [];
  while (offset < body.length) {
    const end = body.indexOf(0, offset);
    if (end === -1) break;
    out.push(body.toString('utf8', offset, end));
    offset = end + 1;
  }
  return out;
}

/**
 * A raw client: writes bytes, reads single-byte answers or whole backend
 * messages, and reports when and how the other side closed.
 */
export class WireClient {
  private buffer = Buffer.alloc(0);
  private waiter: (() => void) | null = null;
  readonly opened = Date.now();
  /** Time the socket closed (ms since opened), once it has. */
  closedAfterMs: number | null = null;
  private readonly closing: Promise<void>;

  constructor(readonly socket: Duplex) {
    socket.on('data', (d: Buffer) => {
      this.buffer = Buffer.concat([this.buffer, d]);
      this.wake();
    });
    socket.on('error', () => undefined);
    this.closing = new Promise((resolve) =>
      socket.once('close', () => {
        this.closedAfterMs = Date.now() - this.opened;
        this.wake();
        resolve();
      }),
    );
  }

  static connect(port: number): Promise<WireClient> {
    return new Promise((resolve, reject) => {
      const s = net.connect(port, '127.0.0.1');
      s.once('connect', () => {
        s.off('error', reject);
        s.setNoDelay(true);
        resolve(new WireClient(s));
      });
      s.once('error', reject);
    });
  }

  get isClosed(): boolean {
    return this.closedAfterMs !== null;
  }

  write(b: Buffer | string): void {
    this.socket.write(b);
  }

  end(b?: Buffer): void {
    if (b) this.socket.end(b);
    else this.socket.end();
  }

  destroy(): void {
    this.socket.destroy();
  }

  /** Waits for the close; returns every byte received and not read yet. */
  async closed(timeoutMs = 5000): Promise<Buffer> {
    await this.within(this.closing, timeoutMs, 'the proxy to close the connection');
    const rest = this.buffer;
    this.buffer = Buffer.alloc(0);
    return rest;
  }

  /** One unframed byte, as sent in answer to SSLRequest / GSSENCRequest. */
  async readByte(timeoutMs = 5000): Promise<string> {
    await this.need(1, timeoutMs);
    const b = this.buffer.toString('latin1', 0, 1);
    this.buffer = this.buffer.subarray(1);
    return b;
  }

  async readMessage(timeoutMs = 5000): Promise<BackendMessage> {
    await this.need(5, timeoutMs);
    const length = this.buffer.readUInt32BE(1);
    await this.need(1 + length, timeoutMs);
    const m = { type: this.buffer.toString('latin1', 0, 1), body: Buffer.from(this.buffer.subarray(5, 1 + length)) };
    this.buffer = this.buffer.subarray(1 + length);
    return m;
  }

  /** Messages up to and including the first of `type` (or an ErrorResponse when stopOnError). */
  async readUntil(type: string, timeoutMs = 5000, stopOnError = true): Promise<BackendMessage[]> {
    const out: BackendMessage[] = [];
    for (;;) {
      const m = await this.readMessage(timeoutMs);
      out.push(m);
      if (m.type === type || (stopOnError && m.type === 'E')) return out;
    }
  }

  /** Reads the next message and expects an ErrorResponse; returns its fields. */
  async readError(timeoutMs = 5000): Promise<Record<string, string>> {
    const m = await this.readMessage(timeoutMs);
    if (m.type !== 'E') throw new Error(`expected ErrorResponse, got "${m.type}" ${m.body.toString('latin1')}`);
    return errorFields(m.body);
  }

  private async need(n: number, timeoutMs: number): Promise<void> {
    const deadline = Date.now() + timeoutMs;
    while (this.buffer.length < n) {
      if (this.isClosed) throw new Error(`connection closed with ${this.buffer.length} of ${n} bytes: ${this.buffer.toString('latin1')}`);
      const left = deadline - Date.now();
      if (left <= 0) throw new Error(`timed out waiting for ${n} bytes (have ${this.buffer.length})`);
      await this.within(new Promise<void>((r) => (this.waiter = r)), left, `${n} bytes`).catch(() => undefined);
    }
  }

  private wake(): void {
    const w = this.waiter;
    this.waiter = null;
    w?.();
  }

  private async within(p: Promise<void>, ms: number, what: string): Promise<void> {
    let timer: NodeJS.Timeout | undefined;
    try {
      await Promise.race([p, new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out waiting for ${what}`)), ms)))]);
    } finally {
      clearTimeout(timer);
    }
  }
}

/**
 * A full login by hand: startup, expect AuthenticationCleartextPassword, send
 * the password, read until ReadyForQuery. Returns the client and what came back.
 */
export async function wireLogin(
  client: WireClient,
  user: string,
  password: string,
  extra: Array<[string, string]> = [['database', 'app']],
): Promise<BackendMessage[]> {
  client.write(startupMessage([['user', user], ...extra]));
  const auth = await client.readMessage();
  if (auth.type !== 'R' || auth.body.readUInt32BE(0) !== 3) throw new Error(`expected a password request, got "${auth.type}"`);
  client.write(passwordMessage(password));
  return client.readUntil('Z', 10_000);
}

/** Runs one simple query; returns the text of the first column of each DataRow. */
export async function wireQuery(client: WireClient, sql: string): Promise<string[]> {
  client.write(queryMessage(sql));
  const msgs = await client.readUntil('Z', 10_000, false);
  const err = msgs.find((m) => m.type === 'E');
  if (err) throw new Error(`query failed: ${JSON.stringify(errorFields(err.body))}`);
  return msgs
    .filter((m) => m.type === 'D')
    .map((m) => {
      const len = m.body.readInt32BE(2);
      return len < 0 ? '' : m.body.toString('utf8', 6, 6 + len);
    });
}

/**
 * What postgres.js does with ssl: 'require' (its connection.js, secure()): an
 * SSLRequest, then a TLS handshake on the same socket whatever the answer.
 * Resolves with the answer and the error the handshake ended with.
 */
export function tlsAfterSslRequest(port: number): Promise<{ answer: string; error: Error }> {
  return new Promise((resolve, reject) => {
    const socket = net.connect(port, '127.0.0.1', () => socket.write(SSL_REQUEST));
    socket.once('error', reject);
    socket.once('data', (d: Buffer) => {
      socket.removeAllListeners();
      const secure = tls.connect({ socket, rejectUnauthorized: false });
      secure.once('secureConnect', () => reject(new Error('the TLS handshake succeeded')));
      secure.once('error', (error) => {
        secure.destroy();
        resolve({ answer: d.toString('latin1'), error });
      });
    });
  });
}
