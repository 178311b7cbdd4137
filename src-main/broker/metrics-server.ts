import http from 'node:http';
import type net from 'node:net';
import type { Logger } from '../core/log.js';
import type { PrometheusMetrics } from './metrics.js';

export interface MetricsServer {
  /** http://host:port/metrics as bound. */
  url: string;
  port: number;
  close(): Promise<void>;
}

/**
 * GET /metrics in Prometheus' text format on its own plain-HTTP listener, so
 * a firewall or NetworkPolicy can open it to the scraper alone. Nothing else
 * is served: no body is read, every other path is a 404.
 */
export async function startMetricsServer(metrics: PrometheusMetrics, host: string, port: number, logger: Logger): Promise<MetricsServer> {
  const server = http.createServer((req, res) => {
    const path = (req.url ?? '').split('?')[0];
    if (req.method !== 'GET' || path !== '/metrics') {
      res.writeHead(req.method === 'GET' ? 404 : 405, { 'content-type': 'text/plain' }).end('GET /metrics only\n');
      return;
    }
    metrics.registry.metrics().then(
      (text) => res.writeHead(200, { 'content-type': metrics.registry.contentType }).end(text),
      (e: unknown) => {
        logger.warn({ error: e instanceof Error ? e.message : String(e) }, 'metrics could not be collected');
        res.writeHead(500, { 'content-type': 'text/plain' }).end('metrics could not be collected\n');
      },
    );
  });
  server.requestTimeout = 10_000;
  server.headersTimeout = 10_000;
  server.keepAliveTimeout = 5000;
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject);
    server.listen({ host, port }, () => {
      server.off('error', reject);
      resolve();
    });
  });
  const address = server.address() as net.AddressInfo;
  const shown = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  return {
    url: `http://${shown}:${address.port}/metrics`,
    port: address.port,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}
