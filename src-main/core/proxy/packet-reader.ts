import type { Duplex } from 'node:stream';
import type { ClientError } from '../client-errors.js';
import type { ReadResult } from './frontend-codec.js';

/** Raised when the client sent something we must refuse; error null means close silently. */
export class ProtocolClose extends Error {
  constructor(readonly clientError: ClientError | null) {
    super(clientError?.message ?? 'protocol violation');
  }
}

/** Bytes we hold for a client before authentication: a startup packet plus a password message, with room. */
const MAX_BUFFERED = 128 * 1024;

/**
 * Accumulates client bytes during the startup phase and hands out whole
 * packets. It can be moved from the TCP socket to the TLS socket after an
 * SSLRequest, and gives back whatever it still holds when the relay starts,
 * so no byte is lost in either direction.
 */
export class PacketReader {
  private buffer: Buffer = Buffer.alloc(0);
  private socket: Duplex | null = null;
  private ended = false;
  private wake: (() => void) | null = null;

  private readonly onData = (chunk: Buffer) => {
    this.buffer = this.buffer.length === 0 ? chunk : Buffer.concat([this.buffer, chunk]);
    if (this.buffer.length > MAX_BUFFERED) this.socket?.destroy();
    this.notify();
  };
  private readonly onEnd = () => {
    this.ended = true;
    this.notify();
  };

  attach(socket: Duplex): void {
    this.socket = socket;
    this.ended = false;
    socket.on('data', this.onData);
    socket.on('end', this.onEnd);
    socket.on('close', this.onEnd);
    socket.on('error', this.onEnd);
  }

  /** Stops reading and returns the bytes not consumed yet. */
  detach(): Buffer {
    const s = this.socket;
    if (s) {
      s.off('data', this.onData);
      s.off('end', this.onEnd);
      s.off('close', this.onEnd);
      s.off('error', this.onEnd);
      s.pause();
    }
    this.socket = null;
    const rest = this.buffer;
    this.buffer = Buffer.alloc(0);
    return rest;
  }

  get buffered(): number {
    return this.buffer.length;
  }

  get firstByte(): number | undefined {
    return this.buffer[0];
  }

  /** Waits until at least one byte is buffered; false when the client went away. */
  async waitForData(): Promise<boolean> {
    while (this.buffer.length === 0) {
      if (this.ended) return false;
      await new Promise<void>((r) => (this.wake = r));
    }
    return true;
  }

  /** Next whole packet, or null when the client closed before sending it. */
  async read<T>(parse: (b: Buffer) => ReadResult<T>): Promise<T | null> {
    for (;;) {
      const r = parse(this.buffer);
      if (r.status === 'ok') {
        this.buffer = this.buffer.subarray(r.consumed);
        return r.value;
      }
      if (r.status === 'invalid') throw new ProtocolClose(r.error);
      if (this.ended) return null;
      await new Promise<void>((resolve) => (this.wake = resolve));
    }
  }

  private notify(): void {
    const w = this.wake;
    this.wake = null;
    w?.();
  }
}
