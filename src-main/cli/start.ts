import { existsSync } from 'node:fs';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { createLogger } from '../core/log.js';
import { ProfileStore } from '../core/profiles/store.js';
import { defaultConfigPath } from '../core/profiles/config-path.js';
import { isBrokerProfile } from '../core/profiles/schema.js';
import { createSecretStore } from '../core/secrets/index.js';
import { HistoryStore } from '../core/history/history-store.js';
import { historyPathFor } from '../core/history/history-path.js';
import { historySink } from '../core/history/proxy-history.js';
import { ProxyService } from '../core/service.js';
import type { ProxyStatus } from '../core/proxy/profile-proxy.js';
import { println, UsageError, type CliIo } from './io.js';
import { runtimeStatusPath, writeRuntimeStatus } from './runtime-status.js';
import { printFieldErrors } from './print.js';

/** `rolecall start`: runs the proxies of a config file until SIGINT/SIGTERM, then drains and exits 0. */
export async function startCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      config: { type: 'string' },
      profile: { type: 'string', multiple: true },
      history: { type: 'string' },
      json: { type: 'boolean', default: false },
      'grace-seconds': { type: 'string', default: '10' },
    },
  });
  const configPath = values.config ?? defaultConfigPath();
  const loaded = await new ProfileStore(configPath).load();
  if (!loaded.ok) {
    printFieldErrors(io, configPath, loaded.errors, loaded.movedAsideTo);
    return 1;
  }
  const wanted = values.profile ?? loaded.config.profiles.map((p) => p.id);
  const profiles = wanted.map((id) => {
    const p = loaded.config.profiles.find((x) => x.id === id);
    if (!p) throw new UsageError(`no profile "${id}" in ${configPath} (it has: ${loaded.config.profiles.map((x) => x.id).join(', ') || 'none'})`);
    return p;
  });
  if (profiles.length === 0) {
    const why = existsSync(configPath) ? 'has no profiles' : 'does not exist';
    throw new UsageError(`${configPath} ${why}: write one (README, "Configuration") or pass --config FILE`);
  }

  const logger = createLogger();
  const historyPath = values.history ?? historyPathFor(configPath);
  const history = new HistoryStore(historyPath);
  history.prune(loaded.config.settings.historyRetentionDays);
  const service = new ProxyService({
    secrets: createSecretStore({ profileIds: profiles.map((p) => p.id) }),
    logger,
    history: historySink(history),
    tlsDir: path.join(path.dirname(configPath), 'tls'),
  });
  const statusFile = runtimeStatusPath(configPath);
  // One write at a time, each taking the newest snapshot: concurrent atomic
  // writes could finish out of order and leave a stale state ("starting") behind.
  let writing: Promise<void> = Promise.resolve();
  let queued = false;
  const publish = () => {
    if (queued) return;
    queued = true;
    writing = writing.then(async () => {
      queued = false;
      const snapshot = { pid: process.pid, updatedAt: Date.now(), config: configPath, proxies: service.status() };
      await writeRuntimeStatus(statusFile, snapshot).catch(() => undefined);
    });
  };
  service.on('status', publish);
  if (values.json) service.on('connection', (e) => println(io.stdout, JSON.stringify({ event: 'connection', ...e })));

  let failures = 0;
  for (const p of profiles) {
    try {
      const s = await service.start(p);
      // `rolecall status` must already see it when we say it is listening.
      publish();
      await writing;
      if (values.json) println(io.stdout, JSON.stringify({ event: 'listening', profile: s.profileId, host: s.host, port: s.port }));
      else {
        const via = isBrokerProfile(p) ? ` (signing in through the team broker at ${p.broker.urls.join(', ')})` : '';
        println(io.stdout, `${s.profileId}: listening on ${s.host}:${s.port} → ${p.database.host}:${p.database.port}/${p.database.database}${via}`);
      }
    } catch (e) {
      failures++;
      println(io.stderr, `${p.id}: ${e instanceof Error ? e.message : String(e)}`);
    }
  }
  if (failures === profiles.length) {
    history.close();
    return 1;
  }
  publish();
  const graceMs = Number(values['grace-seconds']) * 1000;
  await new Promise<void>((resolve) => {
    const stop = (signal: string) => {
      println(io.stderr, `${signal}: stopping (waiting up to ${graceMs / 1000} s for open sessions)`);
      resolve();
    };
    process.once('SIGINT', () => stop('SIGINT'));
    process.once('SIGTERM', () => stop('SIGTERM'));
  });
  await service.stopAll(graceMs);
  publish();
  await writing;
  history.close();
  return failures > 0 ? 1 : 0;
}

export function describeStatus(s: ProxyStatus): string {
  const err = s.error ? ` — ${s.error}` : '';
  // Older status files (written before team mode) have no mode: they were direct.
  const mode = s.mode === 'broker' ? '\tbroker' : '';
  return `${s.profileId}\t${s.state}\t${s.host}:${s.port}\t${s.activeConnections} connection(s)${mode}${err}`;
}
