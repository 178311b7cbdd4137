import { readFileSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { parseArgs } from 'node:util';
import { ProfileStore } from '../core/profiles/store.js';
import { defaultConfigPath } from '../core/profiles/config-path.js';
import { describeDirectoryServers, isBrokerProfile } from '../core/profiles/schema.js';
import { createSecretStore, isSecretName } from '../core/secrets/index.js';
import { println, readSecret, UsageError, type CliIo } from './io.js';
import { printFieldErrors } from './print.js';
import { readRuntimeStatus, runtimeStatusPath } from './runtime-status.js';
import { describeStatus } from './start.js';
import { importBrokerCommand } from './import-command.js';

const SQL_DIR = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..', '..', 'sql', 'postgres');

/** `rolecall profiles validate FILE`, `rolecall profiles list [--config FILE]` and `rolecall profiles import --broker URL` (import-command.ts). */
export async function profilesCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, ...rest] = args;
  if (sub === 'validate') {
    const file = rest[0];
    if (!file) throw new UsageError('usage: rolecall profiles validate FILE');
    const r = await new ProfileStore(path.resolve(file)).load({ moveCorruptAside: false });
    if (!r.ok) {
      printFieldErrors(io, file, r.errors);
      return 1;
    }
    println(io.stdout, `${file}: OK, ${r.config.profiles.length} profile(s): ${r.config.profiles.map((p) => `${p.id} (port ${p.listen.port})`).join(', ')}`);
    return 0;
  }
  if (sub === 'list') {
    const { values } = parseArgs({ args: rest, options: { config: { type: 'string' } } });
    const file = values.config ?? defaultConfigPath();
    const r = await new ProfileStore(file).load();
    if (!r.ok) {
      printFieldErrors(io, file, r.errors, r.movedAsideTo);
      return 1;
    }
    for (const p of r.config.profiles) {
      const signIn = isBrokerProfile(p) ? `broker ${p.broker.urls.join(',')} (${p.broker.database})` : describeDirectoryServers(p.directory);
      println(io.stdout, `${p.id}\t${p.listen.host}:${p.listen.port}\t${p.database.host}:${p.database.port}/${p.database.database}\t${signIn}`);
    }
    return 0;
  }
  if (sub === 'import') return importBrokerCommand(rest, io);
  throw new UsageError('usage: rolecall profiles validate FILE | rolecall profiles list [--config FILE] | rolecall profiles import --broker URL ...');
}

/** `rolecall status`: what a running `rolecall start` reports. */
export async function statusCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' }, json: { type: 'boolean', default: false } } });
  const file = runtimeStatusPath(values.config ?? defaultConfigPath());
  const status = readRuntimeStatus(file);
  if (!status) {
    println(io.stdout, values.json ? JSON.stringify({ running: false, proxies: [] }) : 'Rolecall is not running (start it with `rolecall start`).');
    return 3;
  }
  if (values.json) println(io.stdout, JSON.stringify({ running: true, ...status }));
  else {
    println(io.stdout, `Rolecall running (pid ${status.pid}), config ${status.config}`);
    for (const p of status.proxies) {
      println(io.stdout, describeStatus(p));
      // Older status files have no passwordWarnings.
      for (const w of p.passwordWarnings ?? []) println(io.stdout, `  ${w.login}: ${w.message}. ${w.hint}`);
    }
  }
  return 0;
}

/** `rolecall sql install|uninstall`: prints the database scripts. */
export async function sqlCommand(args: string[], io: CliIo): Promise<number> {
  const which = args[0];
  if (which !== 'install' && which !== 'uninstall') throw new UsageError('usage: rolecall sql install | rolecall sql uninstall');
  io.stdout.write(readFileSync(path.join(SQL_DIR, `${which}.sql`), 'utf8'));
  return 0;
}

/** `rolecall secrets set|delete|has PROFILE ldap-bind|sync`: the OS keychain. */
export async function secretsCommand(args: string[], io: CliIo): Promise<number> {
  const [sub, profileId, name] = args;
  if (!sub || !profileId || !name || !['set', 'delete', 'has'].includes(sub) || !isSecretName(name)) {
    throw new UsageError('usage: rolecall secrets set|delete|has PROFILE ldap-bind|sync   (set reads the value from stdin or prompts)');
  }
  if (sub === 'set' && (await isBrokerProfileId(profileId, io))) {
    throw new UsageError(`profile "${profileId}" signs in through the team broker and keeps no secret on this machine: nothing to set`);
  }
  const store = createSecretStore();
  if (sub === 'set') {
    const value = await readSecret(io, `${name} password for profile ${profileId}: `);
    await store.set(profileId, name, value);
    println(io.stdout, `stored ${name} for ${profileId} in ${store.describe()}`);
    return 0;
  }
  if (sub === 'delete') {
    println(io.stdout, (await store.delete(profileId, name)) ? 'deleted' : 'there was nothing to delete');
    return 0;
  }
  const has = await store.has(profileId, name);
  println(io.stdout, has ? 'yes' : 'no');
  return has ? 0 : 1;
}

/** Whether the config file names this id as a broker profile (a file that cannot be read says nothing). */
async function isBrokerProfileId(profileId: string, io: CliIo): Promise<boolean> {
  const r = await new ProfileStore(defaultConfigPath(io.env)).load({ moveCorruptAside: false });
  return r.ok && r.config.profiles.some((p) => p.id === profileId && isBrokerProfile(p));
}
