import { rmSync } from 'node:fs';
import path from 'node:path';
import { Writable } from 'node:stream';
import { createLogger } from '../../src-main/core/log.js';
import type { DirectProfileInput } from '../../src-main/core/profiles/schema.js';
import { MemorySecretStore } from '../../src-main/core/secrets/memory-store.js';
import type { SecretStore } from '../../src-main/core/secrets/secret-store.js';
import { createAppContext, type AppContext } from '../../src-main/ipc/app-context.js';
import type { Channel, IpcError, IpcResult, Request, Responses } from '../../src-main/ipc/contract.js';
import { createHandlers, type HandlerMap } from '../../src-main/ipc/handlers/index.js';
import { freePort, tempDir } from '../harness/ports.js';

/** A real engine for handler tests: temp config file, in-memory secrets and history, a log we can read. */
export interface IpcFixture {
  ctx: AppContext;
  handlers: HandlerMap;
  dir: string;
  secrets: SecretStore;
  call<C extends Channel>(channel: C, request: Request<C> | unknown): Promise<IpcResult<Responses[C]>>;
  /** The value, or a thrown error saying which IpcError came back. */
  ok<C extends Channel>(channel: C, request: Request<C>): Promise<Responses[C]>;
  /** The error, or a thrown error when the call succeeded. */
  fail<C extends Channel>(channel: C, request: Request<C> | unknown): Promise<IpcError>;
  logText(): string;
  close(): Promise<void>;
}

export async function ipcFixture(options: { secrets?: SecretStore; env?: NodeJS.ProcessEnv } = {}): Promise<IpcFixture> {
  const dir = tempDir('ipc');
  const chunks: Buffer[] = [];
  const logger = createLogger({
    level: 'debug',
    destination: new Writable({
      write(chunk: Buffer, _e, cb) {
        chunks.push(Buffer.from(chunk));
        cb();
      },
    }),
  });
  const secrets = options.secrets ?? new MemorySecretStore();
  const ctx = await createAppContext({
    configPath: path.join(dir, 'config.json'),
    secrets,
    historyPath: ':memory:',
    logger,
    tlsDir: path.join(dir, 'tls'),
    env: options.env ?? { HOME: dir, PGSERVICEFILE: path.join(dir, 'pg_service.conf') },
  });
  const handlers = createHandlers(ctx);
  const call = <C extends Channel>(channel: C, request: unknown) => handlers[channel](request) as Promise<IpcResult<Responses[C]>>;
  return {
    ctx,
    handlers,
    dir,
    secrets,
    call,
    async ok(channel, request) {
      const r = await call(channel, request);
      if (!r.ok) throw new Error(`${channel} failed: ${JSON.stringify(r.error)}`);
      return r.value;
    },
    async fail(channel, request) {
      const r = await call(channel, request);
      if (r.ok) throw new Error(`${channel} unexpectedly succeeded: ${JSON.stringify(r.value)}`);
      return r.error;
    },
    logText: () => Buffer.concat(chunks).toString('utf8'),
    async close() {
      await ctx.close();
      rmSync(dir, { recursive: true, force: true });
    },
  };
}

/** A valid profile whose servers do not exist (127.0.0.1 port 1): enough for everything but real connections. */
export async function sampleProfile(id = 'app', extra: Partial<DirectProfileInput> = {}): Promise<DirectProfileInput> {
  return {
    id,
    name: `Profile ${id}`,
    directory: { kind: 'openldap', url: 'ldap://127.0.0.1:1', bindDn: 'cn=svc,dc=example,dc=test', baseDn: 'dc=example,dc=test', timeoutMs: 1000 },
    database: { host: '127.0.0.1', port: 1, database: 'app', sslmode: 'disable', connectTimeoutMs: 1000 },
    listen: { port: await freePort() },
    ...extra,
  };
}

/** Stores both passwords a profile needs to start (values no server checks: these tests never sign in through the proxy). */
export async function storeSampleSecrets(f: IpcFixture, id = 'app'): Promise<void> {
  await f.ok('secrets.set', { profileId: id, name: 'ldap-bind', value: 'bind-pw' });
  await f.ok('secrets.set', { profileId: id, name: 'sync', value: 'sync-pw' });
}
