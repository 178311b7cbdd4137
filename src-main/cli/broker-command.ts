import { parseArgs } from 'node:util';
import { loadBrokerConfig } from '../broker/config.js';
import { readBrokerSecrets } from '../broker/secrets.js';
import { createLogger } from '../core/log.js';
import { println, UsageError, type CliIo } from './io.js';
import { printFieldErrors } from './print.js';

/**
 * `rolecall broker --config FILE [--check]`: the team broker. Loads broker.json
 * and the secrets (environment variables or *_FILE), starts, prints one JSON
 * line {"event":"ready","url":…} when listening, and drains on SIGINT/SIGTERM
 * (exit 0). --check validates the config, its files and the secrets, then
 * exits 0, or 1 naming each problem.
 */
export async function brokerCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' }, check: { type: 'boolean', default: false } } });
  if (values.config === undefined) throw new UsageError('rolecall broker needs --config FILE (broker.json; README, "Team setup")');
  const file = values.config;
  const loaded = await loadBrokerConfig(file);
  if (!loaded.ok) {
    printFieldErrors(io, file, loaded.errors);
    return 1;
  }
  const { config, files } = loaded;
  const secrets = readBrokerSecrets(io.env, config.databases.map((d) => d.id));
  if (!secrets.ok) {
    println(io.stderr, `${file}: the broker's secrets are not all there`);
    for (const e of secrets.errors) println(io.stderr, `  ${e}`);
    return 1;
  }
  if (values.check) {
    println(io.stdout, `${file}: ok (${config.databases.length} database(s): ${config.databases.map((d) => d.id).join(', ')}; secrets present)`);
    return 0;
  }

  const { startBroker } = await import('../broker/broker.js');
  const logger = createLogger();
  const broker = await startBroker(config, files, secrets.secrets, { logger });
  println(io.stdout, JSON.stringify({ event: 'ready', url: broker.url, port: broker.port, replica: broker.replica, ...(broker.metricsUrl ? { metricsUrl: broker.metricsUrl } : {}) }));
  const signal = await new Promise<string>((resolve) => {
    process.once('SIGINT', () => resolve('SIGINT'));
    process.once('SIGTERM', () => resolve('SIGTERM'));
  });
  println(io.stderr, `${signal}: draining (up to ${config.listen.drainSeconds} s for requests in flight)`);
  await broker.stop();
  return 0;
}
