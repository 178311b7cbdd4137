import net from 'node:net';
import { silentLogger, type Logger } from '../log.js';
import { addressOf, type DatabaseEndpoint } from '../database/endpoint.js';
import { negotiateTls } from './upstream/tls.js';
import { isCancelRequest } from './wire.js';

/**
 * Passes a client's CancelRequest to the server as-is, over TLS when the
 * sslmode asks for it (the key is a secret worth protecting). The server never
 * answers a CancelRequest, so neither do we: this never throws, and gives up
 * after timeoutMs.
 */
export async function forwardCancel(
  target: DatabaseEndpoint,
  request: Buffer,
  options: { timeoutMs?: number; logger?: Logger } = {},
): Promise<void> {
  const logger = options.logger ?? silentLogger;
  if (!isCancelRequest(request)) {
    logger.debug('ignoring malformed CancelRequest');
    return;
  }
  const timeoutMs = options.timeoutMs ?? (target.connectTimeoutMs > 0 ? target.connectTimeoutMs : 10_000);
  const sockets: net.Socket[] = [];
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, timeoutMs);
  });
  const send = async () => {
    const raw = await new Promise<net.Socket>((resolve, reject) => {
      const s = net.connect({ host: target.host, port: target.port });
      sockets.push(s);
      s.once('connect', () => {
        s.off('error', reject);
        resolve(s);
      });
      s.once('error', reject);
    });
    const socket = target.sslmode === 'disable' ? raw : await negotiateTls(raw, target, (s) => sockets.push(s));
    // Errors after this point (e.g. reset on close) do not matter: the request is out.
    socket.on('error', () => undefined);
    await new Promise<void>((resolve) => {
      socket.once('close', () => resolve());
      socket.end(request);
    });
  };
  const sending = send();
  sending.catch(() => undefined); // a late failure after the deadline is moot
  try {
    await Promise.race([sending, deadline]);
  } catch (e) {
    logger.debug({ upstream: addressOf(target), err: (e as Error).message }, 'could not forward CancelRequest');
  } finally {
    clearTimeout(timer);
    for (const s of sockets) s.destroy();
  }
}
