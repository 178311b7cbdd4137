import type net from 'node:net';
import type { Parser } from 'pg-protocol/dist/parser.js';
import type { BackendMessage, DatabaseError } from 'pg-protocol/dist/messages.js';
import { addressOf as where, type DatabaseEndpoint } from '../../database/endpoint.js';
import { SqlState } from '../../client-errors.js';
import { UpstreamError } from './error.js';

/** Startup-phase messages are small; a huge length means garbage or hostility. */
const MAX_STARTUP_MESSAGE = 1 << 20;

export interface Frame {
  code: number;
  /** The whole message, type byte included. */
  raw: Buffer;
}

/** Splits the server's byte stream into whole messages during the startup phase. */
export class FrameReader {
  private buffered: Buffer = Buffer.alloc(0);
  private waiter: { resolve: (f: Frame) => void; reject: (e: Error) => void } | undefined;
  private failure: UpstreamError | undefined;

  constructor(
    private readonly socket: net.Socket,
    private readonly target: DatabaseEndpoint,
  ) {
    socket.on('data', this.onData);
    socket.on('error', this.onError);
    socket.on('close', this.onClose);
  }

  next(): Promise<Frame> {
    return new Promise((resolve, reject) => {
      this.waiter = { resolve, reject };
      this.deliver();
    });
  }

  /** Pauses the socket, removes our listeners and returns bytes not yet consumed. */
  detach(): Buffer {
    this.socket.pause();
    this.socket.off('data', this.onData);
    this.socket.off('error', this.onError);
    this.socket.off('close', this.onClose);
    const rest = this.buffered;
    this.buffered = Buffer.alloc(0);
    return rest;
  }

  private readonly onData = (chunk: Buffer) => {
    this.buffered = this.buffered.length === 0 ? chunk : Buffer.concat([this.buffered, chunk]);
    this.deliver();
  };

  private readonly onError = (e: Error) => {
    this.fail(new UpstreamError('unreachable', `connection to ${where(this.target)} failed: ${e.message}`, { cause: e }));
  };

  private readonly onClose = () => {
    this.fail(new UpstreamError('unreachable', `server at ${where(this.target)} closed the connection unexpectedly`));
  };

  private fail(e: UpstreamError): void {
    this.failure ??= e;
    this.deliver();
  }

  private deliver(): void {
    const waiter = this.waiter;
    if (!waiter) return;
    if (this.buffered.length >= 5) {
      const length = this.buffered.readUInt32BE(1);
      if (length < 4 || length > MAX_STARTUP_MESSAGE) {
        this.waiter = undefined;
        waiter.reject(new UpstreamError('protocol', `server at ${where(this.target)} sent an invalid message length (${length})`));
        return;
      }
      if (this.buffered.length >= length + 1) {
        const raw = this.buffered.subarray(0, length + 1);
        this.buffered = this.buffered.subarray(length + 1);
        this.waiter = undefined;
        waiter.resolve({ code: raw[0] as number, raw });
        return;
      }
    }
    if (this.failure) {
      this.waiter = undefined;
      waiter.reject(this.failure);
    }
  }
}

/** The messages in a buffer of whole backend messages: type byte, payload start and end. */
export function* frames(buffer: Buffer): Generator<[code: number, start: number, end: number]> {
  let offset = 0;
  while (offset + 5 <= buffer.length) {
    const end = offset + 1 + buffer.readUInt32BE(offset + 1);
    if (end > buffer.length) return;
    yield [buffer[offset] as number, offset + 5, end];
    offset = end;
  }
}

/** pg-protocol's view of one complete frame. */
export function parseFrame(parser: Parser, frame: Frame): BackendMessage {
  let parsed: BackendMessage | undefined;
  parser.parse(frame.raw, (m) => {
    parsed = m;
  });
  if (parsed === undefined) throw new UpstreamError('protocol', 'incomplete server message');
  return parsed;
}

/** The server's ErrorResponse as an UpstreamError that keeps its bytes, to relay verbatim. */
export function serverError(parser: Parser, frame: Frame, target: DatabaseEndpoint): UpstreamError {
  const err = parseFrame(parser, frame) as DatabaseError;
  const fields = { severity: err.severity, code: err.code, message: err.message, detail: err.detail, hint: err.hint };
  return new UpstreamError('server', err.message || `server at ${where(target)} reported an error`, {
    sqlstate: err.code ?? SqlState.connectionFailure,
    raw: Buffer.from(frame.raw),
    fields,
  });
}

export function typeName(code: number): string {
  return `'${String.fromCharCode(code)}'`;
}
