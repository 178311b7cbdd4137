import { readFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { parseArgs } from 'node:util';
import { brokerDenial } from '../core/auth/broker-denials.js';
import { BrokerClient } from '../core/broker-client/broker-client.js';
import { BrokerFailure } from '../core/broker-client/broker-failure.js';
import { createLogger } from '../core/log.js';
import { defaultConfigPath } from '../core/profiles/config-path.js';
import { brokerCaFileFor, caDirFor, CatalogImportConflict, profilesFromCatalog, saveCatalogImport, writeCaFile } from '../core/profiles/from-catalog.js';
import { brokerSchema, isBrokerProfile } from '../core/profiles/schema.js';
import { ProfileStore } from '../core/profiles/store.js';
import { createSecretStore, secretNames } from '../core/secrets/index.js';
import { println, readPassword, UsageError, type CliIo } from './io.js';
import { printFieldErrors } from './print.js';

const USAGE =
  'usage: rolecall profiles import --broker URL [--broker URL2 ...] [--ca FILE] [--login NAME] [--database ID ...] [--port-base N] [--replace] [--config FILE]';

/**
 * `rolecall profiles import --broker URL`: signs in to the broker's catalog
 * with the user's directory password (asked without echo, or
 * ROLECALL_PASSWORD), and writes one broker profile per database chosen. The
 * broker's CA (--ca) and each database's CA bundle from the catalog are
 * written beside the config file (0644). The password is used for this one
 * request and never stored.
 */
export async function importBrokerCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({
    args,
    options: {
      broker: { type: 'string', multiple: true },
      ca: { type: 'string' },
      login: { type: 'string' },
      database: { type: 'string', multiple: true },
      'port-base': { type: 'string' },
      replace: { type: 'boolean', default: false },
      config: { type: 'string' },
    },
  });
  if (!values.broker?.length) throw new UsageError(USAGE);
  const portBase = values['port-base'] === undefined ? undefined : Number(values['port-base']);
  if (portBase !== undefined && (!Number.isInteger(portBase) || portBase < 1024 || portBase > 65535)) {
    throw new UsageError('--port-base must be a port number from 1024 to 65535');
  }
  const configPath = values.config ?? defaultConfigPath(io.env);
  const caDir = caDirFor(configPath);
  const broker = brokerSchema.safeParse({ urls: values.broker, ...(values.ca ? { caFile: path.resolve(values.ca) } : {}), database: 'catalog' });
  if (!broker.success) throw new UsageError(`--broker: ${broker.error.issues.map((i) => i.message).join('; ')}`);
  const store = new ProfileStore(configPath);
  const loaded = await store.load();
  if (!loaded.ok) {
    printFieldErrors(io, configPath, loaded.errors, loaded.movedAsideTo);
    return 1;
  }

  const login = values.login ?? os.userInfo().username;
  const password = await readPassword(io, `directory password for ${login} (used once for the broker's catalog, never stored): `);
  let client: BrokerClient;
  try {
    client = new BrokerClient(broker.data, createLogger({ level: io.env.ROLECALL_LOG_LEVEL ?? 'warn' }));
  } catch (e) {
    if (e instanceof BrokerFailure) throw new UsageError(`--ca: ${e.message}`);
    throw e;
  }
  let catalog;
  try {
    catalog = (await client.catalog({ login, password })).value;
  } catch (e) {
    const error = brokerDenial(e);
    println(io.stderr, `rolecall: the broker's catalog: ${error.message} (${error.sqlstate})${error.hint ? `\n  ${error.hint}` : ''}`);
    return 1;
  } finally {
    client.close();
  }

  const wanted = values.database ?? catalog.databases.map((d) => d.id);
  const unknown = wanted.filter((id) => !catalog.databases.some((d) => d.id === id));
  if (unknown.length > 0) {
    throw new UsageError(`the broker serves no database ${unknown.map((id) => `"${id}"`).join(', ')} (it serves: ${catalog.databases.map((d) => d.id).join(', ') || 'none'})`);
  }
  const entries = catalog.databases.filter((d) => wanted.includes(d.id));
  if (entries.length === 0) {
    println(io.stderr, 'rolecall: the broker serves no database to you yet: ask your team to add one to its catalog');
    return 1;
  }

  // The broker's CA lives beside the config too, so the profile keeps working when the file passed to --ca goes away.
  let brokerCaFile: string | undefined;
  let brokerCa: string | undefined;
  if (broker.data.caFile !== undefined) {
    brokerCaFile = brokerCaFileFor(caDir, broker.data.urls[0]!);
    brokerCa = readFileSync(broker.data.caFile, 'utf8');
  }
  let plan;
  try {
    plan = await profilesFromCatalog(entries, {
      brokerUrls: broker.data.urls,
      ...(brokerCaFile === undefined ? {} : { brokerCaFile }),
      caDir,
      existing: loaded.config.profiles,
      ...(portBase === undefined ? {} : { portBase }),
      replaceDirect: values.replace,
    });
  } catch (e) {
    if (e instanceof CatalogImportConflict) throw new UsageError(e.message);
    throw e;
  }

  if (brokerCaFile !== undefined && brokerCa !== undefined) writeCaFile(brokerCaFile, brokerCa);
  const errors = await saveCatalogImport(store, loaded.config, plan);
  if (errors) {
    printFieldErrors(io, configPath, errors);
    return 1;
  }

  // A direct profile that became a broker profile leaves no secret behind on this machine.
  const replaced = plan.profiles.filter((p) => p.status === 'replaced').map((p) => p.input.id);
  if (replaced.length > 0) {
    const secrets = createSecretStore({ env: io.env, profileIds: replaced });
    for (const id of replaced) for (const name of secretNames) await secrets.delete(id, name).catch(() => false);
  }

  const saved = await store.load();
  println(io.stdout, `${configPath}: ${plan.profiles.length} broker profile(s) from ${broker.data.urls.join(', ')}`);
  for (const { input, status } of plan.profiles) {
    const p = saved.ok ? saved.config.profiles.find((x) => x.id === input.id) : undefined;
    if (!p || !isBrokerProfile(p)) continue;
    const db = p.database;
    println(io.stdout, `  ${p.id} (${status}): ${p.listen.host}:${p.listen.port} → ${db.host}:${db.port}/${db.database}`);
  }
  const first = plan.profiles[0]?.input;
  if (first) {
    println(io.stdout, `Start with \`rolecall start\`, then: psql "host=127.0.0.1 port=${first.listen.port} dbname=${first.database.database} user=${login}"`);
  }
  return 0;
}
