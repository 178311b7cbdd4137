import { hostname } from 'node:os';
import type net from 'node:net';
import { createDirectory } from '../core/directory/directory.js';
import type { Logger } from '../core/log.js';
import type { BrokerConfig, BrokerFiles } from './config.js';
import type { BrokerDeps } from './deps.js';
import { buildHttpServer, type HttpState } from './http-server.js';
import { meteredDirectory } from './metered-directory.js';
import { createBrokerMetrics, type PrometheusMetrics } from './metrics.js';
import { startMetricsServer, type MetricsServer } from './metrics-server.js';
import type { BrokerSecrets } from './secrets.js';
import { serveDatabases } from './served-databases.js';
import { Sweeper } from './sweep.js';
import { SharedThrottle } from './throttle.js';

export interface RunningBroker {
  /** https://host:port as bound (the port chosen when listen.port is 0). */
  url: string;
  host: string;
  port: number;
  replica: string;
  sweeper: Sweeper;
  /** http://host:port/metrics when broker.json has a metrics listener. */
  metricsUrl?: string;
  metrics: PrometheusMetrics;
  /** Drains: readyz says not ready, no new connections, requests in flight get listen.drainSeconds; leases released. */
  stop(): Promise<void>;
}

export interface StartOptions {
  logger: Logger;
  now?: () => number;
  /** This replica's name in the sweep lease and the audit (default host name and pid). */
  replica?: string;
}

/**
 * The team broker, started: the directory (service-account pool), one sync
 * pool per place Rolecall is installed, the shared throttle, the HTTPS API
 * and the sweep. Everything a request needs is built here once.
 */
export async function startBroker(config: BrokerConfig, files: BrokerFiles, secrets: BrokerSecrets, options: StartOptions): Promise<RunningBroker> {
  const { logger } = options;
  const now = options.now ?? Date.now;
  const replica = options.replica ?? `${hostname()}/${process.pid}`;
  const metrics = createBrokerMetrics();
  const directory = meteredDirectory(createDirectory(config.directory, secrets.bindPassword, logger), metrics);
  const served = serveDatabases(config, files, secrets.syncPasswords, logger, now);
  const throttleId = config.throttle.database ?? config.databases[0]?.id ?? '';
  const throttleDb = served.databases.get(throttleId);
  if (throttleDb === undefined) throw new Error(`no database "${throttleId}" for the throttle`);
  const deps: BrokerDeps = {
    config,
    directory,
    served,
    throttle: new SharedThrottle(throttleDb.pool.sync, config.throttle.holdSeconds, config.directory, now),
    throttleDatabase: throttleId,
    credentialKey: secrets.credentialKey,
    replica,
    logger,
    metrics,
    now,
  };
  const closeEngine = async () => {
    await Promise.allSettled([directory.close(), ...served.pools.map((p) => p.sync.close())]);
  };

  const state: HttpState = { draining: false };
  const app = await buildHttpServer(deps, files, state);
  try {
    await app.listen({ host: config.listen.host, port: config.listen.port });
  } catch (e) {
    await closeEngine();
    throw e;
  }
  let metricsServer: MetricsServer | undefined;
  if (config.metrics !== undefined) {
    try {
      metricsServer = await startMetricsServer(metrics, config.metrics.host, config.metrics.port, logger);
    } catch (e) {
      await app.close();
      await closeEngine();
      throw new Error(`cannot listen for metrics on ${config.metrics.host}:${config.metrics.port}: ${(e as Error).message}`);
    }
  }
  const address = app.server.address() as net.AddressInfo;
  const sweeper = new Sweeper(deps, config.sweep.intervalSeconds);
  sweeper.start();
  const host = address.family === 'IPv6' ? `[${address.address}]` : address.address;
  const url = `https://${host}:${address.port}`;
  logger.info({ url, replica, ...(metricsServer ? { metrics: metricsServer.url } : {}), databases: [...served.databases.keys()], targets: served.pools.map((p) => p.where) }, 'broker listening');

  let stopping: Promise<void> | null = null;
  const stop = async (): Promise<void> => {
    state.draining = true;
    logger.info({ drainSeconds: config.listen.drainSeconds }, 'broker draining');
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<'deadline'>((resolve) => {
      timer = setTimeout(() => resolve('deadline'), config.listen.drainSeconds * 1000);
    });
    const closed = Promise.all([app.close(), sweeper.stop()]).then(() => 'closed' as const);
    if ((await Promise.race([closed, deadline])) === 'deadline') {
      logger.warn('requests still in flight at the drain deadline: closing their connections');
      app.server.closeAllConnections();
      await closed;
    }
    clearTimeout(timer);
    await Promise.allSettled([closeEngine(), metricsServer?.close()]);
    logger.info('broker stopped');
  };
  return {
    url,
    host: address.address,
    port: address.port,
    replica,
    sweeper,
    metrics,
    ...(metricsServer ? { metricsUrl: metricsServer.url } : {}),
    stop: () => (stopping ??= stop()),
  };
}
