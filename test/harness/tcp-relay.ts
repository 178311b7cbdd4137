import net from 'node:net';

export interface TcpRelay {
  port: number;
  /** Connections relayed so far. */
  accepted: number;
  /** Stops moving bytes on every connection open now (they hang, as behind a dead link); new ones still work. */
  freezeOpen(): void;
  close(): Promise<void>;
}

/**
 * A TCP relay on 127.0.0.1 to `targetPort`, for connections that should hang
 * mid-conversation, or a server that appears on `listenPort` later (0: any free port).
 */
export async function startTcpRelay(targetPort: number, listenPort = 0): Promise<TcpRelay> {
  const pairs = new Set<[net.Socket, net.Socket]>();
  const server = net.createServer((client) => {
    relay.accepted++;
    const upstream = net.connect(targetPort, '127.0.0.1');
    const pair: [net.Socket, net.Socket] = [client, upstream];
    pairs.add(pair);
    for (const s of pair) {
      s.on('error', () => undefined);
      s.once('close', () => {
        pairs.delete(pair);
        client.destroy();
        upstream.destroy();
      });
    }
    client.pipe(upstream);
    upstream.pipe(client);
  });
  await new Promise<void>((resolve) => server.listen(listenPort, '127.0.0.1', () => resolve()));
  const relay: TcpRelay = {
    port: (server.address() as net.AddressInfo).port,
    accepted: 0,
    freezeOpen() {
      for (const [client, upstream] of pairs) {
        client.unpipe(upstream);
        upstream.unpipe(client);
        client.pause();
        upstream.pause();
      }
    },
    async close() {
      for (const pair of pairs) for (const s of pair) s.destroy();
      await new Promise<void>((resolve) => server.close(() => resolve()));
    },
  };
  return relay;
}
