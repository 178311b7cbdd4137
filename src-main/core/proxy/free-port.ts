import net from 'node:net';

/** A TCP port that was free on 127.0.0.1 a moment ago (the OS picks it). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const srv = net.createServer();
    srv.unref();
    srv.on('error', reject);
    srv.listen(0, '127.0.0.1', () => {
      const addr = srv.address();
      if (addr === null || typeof addr === 'string') return reject(new Error('no port'));
      srv.close(() => resolve(addr.port));
    });
  });
}

export type PortProbe = { free: true } | { free: false; code: string };

/** Tries to listen exclusively on host:port, as the proxy would, and lets go at once. */
export function probePort(host: string, port: number): Promise<PortProbe> {
  return new Promise((resolve) => {
    const server = net.createServer();
    server.once('error', (e: NodeJS.ErrnoException) => resolve({ free: false, code: e.code ?? 'ERROR' }));
    server.listen({ host, port, exclusive: true }, () => server.close(() => resolve({ free: true })));
  });
}

/**
 * The first port from `from` that no profile uses and that can be listened on
 * (searching a bounded range): what the app offers for a taken port, and what
 * `rolecall profiles import --broker` picks when the catalog's suggestion is taken.
 */
export async function nextFreePort(profiles: { listen: { port: number } }[], from: number, host = '127.0.0.1'): Promise<number | null> {
  const used = new Set(profiles.map((p) => p.listen.port));
  const start = Math.max(1024, Math.min(from, 65535));
  for (let port = start, tries = 0; port <= 65535 && tries < 500; port++, tries++) {
    if (used.has(port)) continue;
    if ((await probePort(host, port)).free) return port;
  }
  return null;
}
