import { spawn, execFileSync, type ChildProcess } from 'node:child_process';
import { chownSync, writeFileSync, rmSync } from 'node:fs';
import net from 'node:net';
import { processCpuMs } from './proc-cpu.js';
import path from 'node:path';
import { freePort, isRoot, tempDir, waitFor } from '../test/harness/ports.js';

export const PGBOUNCER = '/usr/sbin/pgbouncer';

export interface PgBouncer {
  port: number;
  version: string;
  /** CPU time PgBouncer has used so far, in ms. */
  cpuMs(): number;
  stop(): Promise<void>;
}

/**
 * Debian's PgBouncer in session mode in front of the benchmark database.
 * Clients authenticate with SCRAM against an auth_file holding the role's
 * SCRAM verifier (copied from pg_authid), which also lets PgBouncer log in to
 * the server with SCRAM. Client hop: plaintext on loopback (like Rolecall's);
 * server hop: TLS (server_tls_sslmode=require), like the other two paths.
 */
export async function startPgBouncer(options: { pgPort: number; database: string; user: string; verifier: string; serverTls: boolean }): Promise<PgBouncer> {
  const dir = tempDir('pgbouncer');
  const port = await freePort();
  const userlist = path.join(dir, 'userlist.txt');
  const ini = path.join(dir, 'pgbouncer.ini');
  writeFileSync(userlist, `"${options.user}" "${options.verifier}"\n`, { mode: 0o600 });
  writeFileSync(
    ini,
    [
      '[databases]',
      `${options.database} = host=127.0.0.1 port=${options.pgPort} dbname=${options.database}`,
      '[pgbouncer]',
      'listen_addr = 127.0.0.1',
      `listen_port = ${port}`,
      'unix_socket_dir =',
      'auth_type = scram-sha-256',
      `auth_file = ${userlist}`,
      'pool_mode = session',
      'server_reset_query = DISCARD ALL',
      'default_pool_size = 20',
      'max_client_conn = 2000',
      `server_tls_sslmode = ${options.serverTls ? 'require' : 'disable'}`,
      'ignore_startup_parameters = extra_float_digits',
      `logfile = ${path.join(dir, 'pgbouncer.log')}`,
      `pidfile = ${path.join(dir, 'pgbouncer.pid')}`,
      '',
    ].join('\n'),
  );
  // PgBouncer refuses to run as root: run it as postgres, spawned directly
  // (not through runuser, which would not pass our stop signal on).
  let owner: { uid: number; gid: number } | Record<string, never> = {};
  if (isRoot()) {
    const uid = Number(execFileSync('id', ['-u', 'postgres']).toString().trim());
    const gid = Number(execFileSync('id', ['-g', 'postgres']).toString().trim());
    for (const f of [dir, userlist, ini]) chownSync(f, uid, gid);
    owner = { uid, gid };
  }
  const child: ChildProcess = spawn(PGBOUNCER, [ini], { stdio: ['ignore', 'ignore', 'pipe'], ...owner });
  let stderr = '';
  child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
  let exited = false;
  child.once('exit', () => (exited = true));
  process.once('exit', () => child.kill('SIGKILL'));
  await waitFor('pgbouncer', async () => {
    if (exited) throw new Error(`pgbouncer exited: ${stderr}`);
    return new Promise<boolean | undefined>((resolve) => {
      const s = net.connect(port, '127.0.0.1', () => {
        s.destroy();
        resolve(true);
      });
      s.on('error', () => resolve(undefined));
    });
  }, 10_000, 50);
  const version = execFileSync(PGBOUNCER, ['--version']).toString().split('\n')[0]?.trim() ?? 'pgbouncer';
  return {
    port,
    version,
    cpuMs: () => processCpuMs(child.pid ?? -1),
    async stop() {
      if (!exited) {
        const gone = new Promise((r) => child.once('exit', r));
        child.kill('SIGINT');
        await Promise.race([gone, new Promise((r) => setTimeout(r, 5000))]);
        if (!exited) child.kill('SIGKILL');
      }
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
