import { existsSync } from 'node:fs';
import { parseArgs } from 'node:util';
import { checkBroker, checkDatabase, checkDatabaseAs, checkDirectory, serversReportLines, type CheckHints, type SecretLookup, type Step } from '../core/diagnostics/index.js';
import { createLogger, type Logger } from '../core/log.js';
import { defaultConfigPath } from '../core/profiles/config-path.js';
import { describeDirectoryServers, isBrokerProfile, type BrokerProfile, type DirectProfile } from '../core/profiles/schema.js';
import { ProfileStore } from '../core/profiles/store.js';
import { createSecretStore, missingSecretMessage, unreadableSecretMessage, type SecretName, type SecretStore } from '../core/secrets/index.js';
import { println, readPassword, UsageError, type CliIo } from './io.js';
import { printFieldErrors } from './print.js';

/** On the command line, Rolecall's SQL is printed by `rolecall sql install` and run by an administrator. */
const CLI_HINTS: CheckHints = { install: 'print it with `rolecall sql install` and run it there as an administrator (README, "Database setup")' };

/**
 * `rolecall doctor [--config FILE] [--profile ID]... [--login NAME]`: the
 * app's "Test directory" and "Test database" for each direct profile (or the
 * ones named), with the same step names; for a broker profile each broker
 * URL (connect, TLS and certificate, readiness) and the database. With
 * --login, that user signs in too (password from ROLECALL_PASSWORD or a
 * prompt). Exit 0 when every step passed, 1 otherwise.
 */
export async function doctorCommand(args: string[], io: CliIo): Promise<number> {
  const { values } = parseArgs({ args, options: { config: { type: 'string' }, profile: { type: 'string', multiple: true }, login: { type: 'string' } } });
  const configPath = values.config ?? defaultConfigPath(io.env);
  const loaded = await new ProfileStore(configPath).load();
  if (!loaded.ok) {
    printFieldErrors(io, configPath, loaded.errors, loaded.movedAsideTo);
    return 1;
  }
  const all = loaded.config.profiles;
  const profiles = (values.profile ?? all.map((p) => p.id)).map((id) => {
    const p = all.find((x) => x.id === id);
    if (!p) throw new UsageError(`no profile "${id}" in ${configPath} (it has: ${all.map((x) => x.id).join(', ') || 'none'})`);
    return p;
  });
  if (profiles.length === 0) {
    throw new UsageError(`${configPath} ${existsSync(configPath) ? 'has no profiles' : 'does not exist'}: write one (README, "Configuration") or pass --config FILE`);
  }
  const secrets = createSecretStore({ env: io.env, profileIds: profiles.map((p) => p.id) });
  const logger = createLogger({ level: io.env.ROLECALL_LOG_LEVEL ?? 'warn' });
  const user = values.login === undefined ? undefined : { login: values.login, password: await readPassword(io, `directory password for ${values.login}: `) };
  const failed: string[] = [];
  for (const profile of profiles) {
    const found = isBrokerProfile(profile) ? await checkBrokerProfile(profile, user, logger, io) : await checkProfile(profile, secrets, user, logger, io);
    for (const f of found) failed.push(`${profile.id}: ${f}`);
  }
  println(io.stdout);
  if (failed.length === 0) {
    println(io.stdout, `All checks passed (${profiles.length} profile(s)).`);
    return 0;
  }
  println(io.stdout, `${failed.length} check(s) failed: ${failed.join('; ')}.`);
  return 1;
}

type User = { login: string; password: string } | undefined;

/** Prints one direct profile's steps; returns the names of the ones that failed. */
async function checkProfile(profile: DirectProfile, secrets: SecretStore, user: User, logger: Logger, io: CliIo): Promise<string[]> {
  const { directory, database } = profile;
  println(io.stdout, `${profile.id} (${profile.name})`);

  println(io.stdout, `  directory ${describeDirectoryServers(directory)}`);
  const bind = await readSecret(secrets, profile.id, 'ldap-bind');
  // Without its password the service account cannot bind: that step fails, the others cannot run.
  let directorySteps: Step[];
  if (!bind.ok) directorySteps = [{ step: 'service bind', ok: false, message: bind.message }];
  else {
    const check = await checkDirectory(directory, bind.value, { ...(user ?? {}), logger });
    // Which servers were found and which answered: information, not steps (one DC down fails nothing while another answers).
    for (const line of serversReportLines(check.servers)) println(io.stdout, `    ${line}`);
    directorySteps = check.steps;
  }
  printSteps(io, directorySteps);

  println(io.stdout, `  database ${database.host}:${database.port}/${database.database}`);
  const db = await checkDatabase(database, { syncPassword: () => readSecret(secrets, profile.id, 'sync'), hints: CLI_HINTS, logger });
  printSteps(io, db.steps);

  return [...directorySteps.filter((s) => !s.ok).map((s) => `directory ${s.step}`), ...db.steps.filter((s) => !s.ok).map((s) => `database ${s.step}`)];
}

/** Prints one broker profile's steps (each broker URL, the sign-in with --login, the database); returns the failed ones. */
async function checkBrokerProfile(profile: BrokerProfile, user: User, logger: Logger, io: CliIo): Promise<string[]> {
  println(io.stdout, `${profile.id} (${profile.name}) — team broker, database "${profile.broker.database}"`);
  const failed: string[] = [];
  const broker = await checkBroker(profile.broker, profile.broker.database, { ...(user ?? {}), logger });
  for (const u of broker.urls) {
    println(io.stdout, `  broker ${u.url}`);
    printSteps(io, u.steps);
    failed.push(...u.steps.filter((s) => !s.ok).map((s) => `broker ${u.url} ${s.step}`));
  }
  if (broker.signIn && user) {
    println(io.stdout, `  sign in as ${user.login}`);
    printSteps(io, broker.signIn.steps);
    failed.push(...broker.signIn.steps.filter((s) => !s.ok).map((s) => `broker ${s.step}`));
  }
  const { database } = profile;
  println(io.stdout, `  database ${database.host}:${database.port}/${database.database}`);
  const answer = broker.signIn?.answer;
  const db = await checkDatabaseAs(database, answer ? { user: answer.login, password: answer.password } : undefined);
  printSteps(io, db.steps);
  failed.push(...db.steps.filter((s) => !s.ok).map((s) => `database ${s.step}`));
  return failed;
}

function printSteps(io: CliIo, steps: Step[]): void {
  for (const s of steps) println(io.stdout, `    ${s.ok ? '✓' : '✗'} ${s.step}: ${s.message}`);
}

/** A secret from the environment or the keychain, or what to do when it is missing or unreadable. */
async function readSecret(secrets: SecretStore, profileId: string, name: SecretName): Promise<SecretLookup> {
  try {
    const value = await secrets.get(profileId, name);
    return value ? { ok: true, value } : { ok: false, message: missingSecretMessage(profileId, name) };
  } catch (e) {
    return { ok: false, message: unreadableSecretMessage(profileId, name, e) };
  }
}
