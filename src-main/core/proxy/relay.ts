import type { Duplex } from 'node:stream';
import { TERMINATE, endsWithTerminate } from './wire.js';

export interface RelayResult {
  bytesFromClient: number;
  bytesToClient: number;
  error?: Error;
  /**
   * The client ended with a Terminate and EOF and the server connection was
   * left open, detached and paused, for the caller to reset and reuse (or close).
   */
  upstreamKept?: boolean;
}

export interface RelayOptions {
  /** Keep the server connection when the client leaves with a Terminate (see RelayResult.upstreamKept). */
  keepUpstreamOnTerminate?: boolean;
}

/** A Terminate not followed by EOF within this time was not the client's goodbye after all. */
const TERMINATE_HOLD_MS = 5000;

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
 * After ReadyForQuery the proxy only moves bytes: two pipes with backpressure,
 * counting chunk sizes, no parsing. Half-close from the client is passed on
 * (the server finishes and closes); the server's end closes the client,
 * optionally after one message of ours (e.g. "access revoked"), which is safe
 * because the server only closes between messages.
 */
export function relay(client: Duplex, upstream: Duplex, options: RelayOptions = {}): RelayHandle {
  const bytes = { fromClient: 0, toClient: 0 };
  let finalMessage: Buffer | undefined;
  let firstError: Error | undefined;
  let settle!: (r: RelayResult) => void;
  const done = new Promise<RelayResult>((r) => (settle = r));
  const keepOnTerminate = options.keepUpstreamOnTerminate === true;
  let closing = false;
  let kept = false;
  // A trailing Terminate is held back until EOF shows it was the client's last message.
  let heldTerminate = false;
  let holdTimer: NodeJS.Timeout | undefined;
  const releaseHeld = () => {
    if (!heldTerminate) return;
    heldTerminate = false;
    clearTimeout(holdTimer);
    upstream.write(TERMINATE);
  };

  // Two hand-written pipes: one listener per chunk does the counting and the
  // forwarding, with the same backpressure as stream.pipe.
  const fromClient = (c: Buffer) => {
    bytes.fromClient += c.length;
    if (heldTerminate) releaseHeld();
    if (keepOnTerminate && !closing && endsWithTerminate(c)) {
      heldTerminate = true;
      holdTimer = setTimeout(releaseHeld, TERMINATE_HOLD_MS);
      holdTimer.unref();
      if (c.length === TERMINATE.length) return;
      c = c.subarray(0, c.length - TERMINATE.length);
    }
    if (!upstream.write(c)) client.pause();
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
    if (++closed === 1 && !kept) {
      // One side is gone: give the other a moment to flush, then make sure it goes too.
      setTimeout(() => {
        client.destroy();
        upstream.destroy();
      }, 5000).unref();
    }
    if (closed === 2 || (kept && closed === 1)) {
      settle({ bytesFromClient: bytes.fromClient, bytesToClient: bytes.toClient, error: firstError, ...(kept ? { upstreamKept: true } : {}) });
    }
  };
  client.once('close', onClose);
  upstream.once('close', onClose);

  /** Terminate + EOF: hand the server connection back untouched (it never saw the Terminate). */
  const keepUpstream = () => {
    kept = true;
    clearTimeout(holdTimer);
    upstream.off('data', fromUpstream);
    upstream.off('drain', resumeClient);
    upstream.off('end', onUpstreamEnd);
    upstream.off('error', fail);
    upstream.off('close', onClose);
    client.off('drain', resumeUpstream);
    upstream.pause();
    client.end();
  };
  client.once('end', () => {
    const usable = heldTerminate && !closing && !upstream.destroyed && !upstream.readableEnded && upstream.writable;
    if (usable) keepUpstream();
    else {
      releaseHeld();
      upstream.end();
    }
  });
  client.resume();
  upstream.resume();

  return {
    bytes,
    done,
    setFinalMessage(message: Buffer | undefined) {
      finalMessage = message;
    },
    close(message?: Buffer) {
      closing = true;
      if (kept) return;
      releaseHeld();
      finalMessage = message ?? finalMessage;
      // Ending our side makes the server finish its current message and close.
      upstream.end();
      // A server that does not close in time is cut; no message then, as we may be mid-message.
      setTimeout(() => {
        client.destroy();
        upstream.destroy();
      }, 3000).unref();
    },
  };
}
