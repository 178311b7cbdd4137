import type { Duplex } from 'node:stream';
import { FrontendFrames } from './frontend-frames.js';
import { TERMINATE } from './wire.js';

export interface RelayResult {
  bytesFromClient: number;
  bytesToClient: number;
  error?: Error;
  /**
   * The client left with a Terminate at a message boundary, no extended-protocol
   * batch waiting for its Sync: the server connection never saw the Terminate
   * and was left open, detached and paused, for the caller to reset and reuse (or close).
   */
  upstreamKept?: boolean;
}

export interface RelayOptions {
  /** Keep the server connection when the client leaves with a Terminate (see RelayResult.upstreamKept). */
  keepUpstreamOnTerminate?: boolean;
  /** Client bytes read before the relay started (they came with the password message): sent first, framed like the rest. */
  pending?: Buffer;
}

/** A chunk this large is part of bulk output (a TLS record is at most 16 KB). */
const BULK_CHUNK = 4096;

export interface RelayHandle {
  /** The message to send if the server closes from now on (e.g. while access is being revoked). */
  setFinalMessage(message: Buffer | undefined): void;
  /** Ends the session: the closing message is sent after the last complete upstream message. */
  close(finalMessage?: Buffer): void;
  readonly done: Promise<RelayResult>;
  readonly bytes: { fromClient: number; toClient: number };
}

/**
 * After ReadyForQuery the proxy moves bytes: two pipes with backpressure,
 * counting chunk sizes. The server's side is never looked at; of the
 * client's side only the message headers are (frontend-frames.ts), to find a
 * Terminate. A Terminate closes the client at once, as the server would, and
 * the server connection is kept for reuse or sent the Terminate too. Half-close
 * from the client is passed on (the server finishes and closes); the server's
 * end closes the client, optionally after one message of ours (e.g. "access
 * revoked"), which is safe because the server only closes between messages.
 */
export function relay(client: Duplex, upstream: Duplex, options: RelayOptions = {}): RelayHandle {
  const bytes = { fromClient: 0, toClient: 0 };
  let finalMessage: Buffer | undefined;
  let firstError: Error | undefined;
  let settle!: (r: RelayResult) => void;
  const done = new Promise<RelayResult>((r) => (settle = r));
  const keepOnTerminate = options.keepUpstreamOnTerminate === true;
  const frames = new FrontendFrames();
  let closing = false;
  let kept = false;
  // The client sent its Terminate: it is done, and whatever it sends after is dropped, as PostgreSQL does.
  let terminated = false;
  let backstop: NodeJS.Timeout | undefined;

  const endUpstream = (last?: Buffer) => {
    if (upstream.writableEnded) return;
    if (last) upstream.end(last);
    else upstream.end();
  };
  /** The client is done: flush what it was sent, then let the socket go without waiting for the client to close its side. */
  const closeClient = () => {
    // A client that stopped reading will not read the rest either.
    if (client.writableNeedDrain) client.destroy();
    else client.end(() => client.destroy());
  };

  // Two hand-written pipes: one listener per chunk does the counting and the
  // forwarding, with the same backpressure as stream.pipe.
  const toUpstream = (c: Buffer) => {
    if (terminated) return;
    const end = frames.findTerminate(c);
    if (end < 0) {
      if (!upstream.write(c)) client.pause();
      return;
    }
    terminated = true;
    const start = end - TERMINATE.length;
    // Kept only when the server has nothing the client left unfinished but a
    // query or a transaction the reset detects (a batch without its Sync would
    // be committed by the reset's own query, so that connection is closed).
    const keep = keepOnTerminate && !closing && start >= 0 && !frames.unsynced && !upstream.destroyed && !upstream.readableEnded && upstream.writable;
    if (keep) {
      if (start > 0) upstream.write(c.subarray(0, start));
      keepUpstream();
    } else endUpstream(c.subarray(0, end));
    closeClient();
  };
  const fromClient = (c: Buffer) => {
    bytes.fromClient += c.length;
    toUpstream(c);
  };
  // A TLS server connection delivers at most one 16 KB record per 'data'
  // event; several arrive in one event-loop turn during bulk output. Corking
  // the client until the turn ends sends them with one writev instead of one
  // write each.
  let clientCorked = false;
  const uncorkClient = () => {
    clientCorked = false;
    client.uncork();
  };
  const fromUpstream = (c: Buffer) => {
    bytes.toClient += c.length;
    // Small replies (the interactive case) go out at once; only bulk is batched.
    if (!clientCorked && c.length >= BULK_CHUNK) {
      clientCorked = true;
      client.cork();
      setImmediate(uncorkClient);
    }
    if (!client.write(c)) upstream.pause();
  };
  const resumeClient = () => client.resume();
  const resumeUpstream = () => upstream.resume();
  client.on('data', fromClient);
  upstream.on('data', fromUpstream);
  upstream.on('drain', resumeClient);
  client.on('drain', resumeUpstream);

  const onUpstreamEnd = () => {
    if (client.writableEnded) return;
    if (finalMessage) client.end(finalMessage);
    else client.end();
  };
  upstream.once('end', onUpstreamEnd);
  const fail = (e: Error) => {
    firstError ??= e;
    client.destroy();
    if (!kept) upstream.destroy();
  };
  client.on('error', fail);
  upstream.on('error', fail);

  let closed = 0;
  const onClose = () => {
    closed++;
    if (closed === 2 || (kept && closed === 1)) {
      clearTimeout(backstop);
      settle({ bytesFromClient: bytes.fromClient, bytesToClient: bytes.toClient, error: firstError, ...(kept ? { upstreamKept: true } : {}) });
    } else if (closed === 1) {
      // One side is gone: give the other a moment to flush, then make sure it goes too.
      backstop = setTimeout(() => {
        client.destroy();
        upstream.destroy();
      }, 5000);
      backstop.unref();
    }
  };
  client.once('close', onClose);
  upstream.once('close', onClose);

  /** The client's Terminate: the server connection goes back untouched (it never saw the Terminate). */
  const keepUpstream = () => {
    kept = true;
    upstream.off('data', fromUpstream);
    upstream.off('drain', resumeClient);
    upstream.off('end', onUpstreamEnd);
    upstream.off('error', fail);
    upstream.off('close', onClose);
    client.off('drain', resumeUpstream);
    upstream.pause();
  };
  client.once('end', () => {
    if (!terminated) endUpstream();
  });
  if (options.pending && options.pending.length > 0) toUpstream(options.pending);
  client.resume();
  if (!kept) upstream.resume();

  return {
    bytes,
    done,
    setFinalMessage(message: Buffer | undefined) {
      finalMessage = message;
    },
    close(message?: Buffer) {
      closing = true;
      if (kept || terminated) return;
      finalMessage = message ?? finalMessage;
      // Ending our side makes the server finish its current message and close.
      endUpstream();
      // A server that does not close in time is cut; no message then, as we may be mid-message.
      setTimeout(() => {
        client.destroy();
        upstream.destroy();
      }, 3000).unref();
    },
  };
}
