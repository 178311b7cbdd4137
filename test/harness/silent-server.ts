import net from 'node:net';

export interface SilentServer {
  port: number;
  /** Connections accepted so far: how many times a client tried this server. */
  accepted: number;
  close(): Promise<void>;
}

/**
 * A TCP server on 127.0.0.1 that accepts connections and never says a word:
 * a directory server that hangs (overloaded, half-dead, a black-holing
 * firewall after the handshake). Counts the connections it accepted.
 */
export async function startSilentServer(): Promise<SilentServer> {
  const sockets = new Set<net.Socket>();
  const server = net.createServer((s) => {
    state.accepted++;
    sockets.add(s);
    s.on('error', () => undefined);
    s.once('close', () => sockets.delete(s));
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', () => resolve()));
  const state: SilentServer = {
    port: (server.address() as net.AddressInfo).port,
    accepted: 0,
    async close() {
      for (const s of sockets) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return state;
}
