import type { Duplex } from 'node:stream';

export interface RelayResult {
  bytesFromClient: number;
  bytesToClient: number;
  error?: Error;
}

export interface RelayHandle {
  /** The message to send if the server closes from now on (e.g. while access is being revoked). */
  setFinalMessage(message: Buffer): void;
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
export function relay(client: Duplex, upstream: Duplex): RelayHandle {
  const bytes = { fromClient: 0, toClient: 0 };
  let finalMessage: Buffer | undefined;
  let firstError: Error | undefined;
  let settle!: (r: RelayResult) => void;
  const done = new Promise<RelayResult>((r) => (settle = r));

  client.on('data', (c: Buffer) => (bytes.fromClient += c.length));
  upstream.on('data', (c: Buffer) => (bytes.toClient += c.length));
  client.pipe(upstream);
  upstream.pipe(client, { end: false });

  upstream.once('end', () => {
    if (finalMessage) client.end(finalMessage);
    else client.end();
  });
  const fail = (e: Error) => {
    firstError ??= e;
    client.destroy();
    upstream.destroy();
  };
  client.on('error', fail);
  upstream.on('error', fail);

  let closed = 0;
  const onClose = () => {
    if (++closed === 1) {
      // One side is gone: give the other a moment to flush, then make sure it goes too.
      setTimeout(() => {
        client.destroy();
        upstream.destroy();
      }, 5000).unref();
    }
    if (closed === 2) settle({ bytesFromClient: bytes.fromClient, bytesToClient: bytes.toClient, error: firstError });
  };
  client.once('close', onClose);
  upstream.once('close', onClose);
  client.resume();
  upstream.resume();

  return {
    bytes,
    done,
    setFinalMessage(message: Buffer) {
      finalMessage = message;
    },
    close(message?: Buffer) {
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
