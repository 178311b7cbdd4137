import { spawn } from 'node:child_process';
import { rmSync, writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { freePort, tempDir, waitFor } from '../test/harness/ports.js';

export const HAPROXY = '/usr/sbin/haproxy';

export interface HaProxy {
  port: number;
  pid: number;
  stop(): Promise<void>;
}

/**
 * Debian's HAProxy in TCP mode in front of broker replicas, as a team would
 * put an ordinary load balancer in front of them: TLS passes through to the
 * broker, least-connections balancing, each replica health-checked on
 * /readyz over HTTPS (a draining or unready replica gets no new connection).
 */
export async function startHaProxy(backends: number[]): Promise<HaProxy> {
  const dir = tempDir('haproxy');
  const port = await freePort();
  const cfg = path.join(dir, 'haproxy.cfg');
  writeFileSync(
    cfg,
    [
      'global',
      '  maxconn 4096',
      'defaults',
      '  mode tcp',
      '  timeout connect 2s',
      '  timeout client 30s',
      '  timeout server 30s',
      'frontend brokers',
      `  bind 127.0.0.1:${port}`,
      '  default_backend replicas',
      'backend replicas',
      '  balance leastconn',
      '  option httpchk GET /readyz',
      '  http-check expect status 200',
      ...backends.map((p, i) => `  server r${i + 1} 127.0.0.1:${p} check check-ssl verify none inter 2s fall 2 rise 1`),
      '',
    ].join('\n'),
  );
  const child = spawn(HAPROXY, ['-db', '-f', cfg], { stdio: ['ignore', 'ignore', 'pipe'] });
  let stderr = '';
  child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
  let exited = false;
  const exit = new Promise<void>((resolve) =>
    child.once('exit', () => {
      exited = true;
      resolve();
    }),
  );
  process.once('exit', () => child.kill('SIGKILL'));
  await waitFor(
    'haproxy',
    async () => {
      if (exited) throw new Error(`haproxy exited: ${stderr}`);
      return new Promise<boolean | undefined>((resolve) => {
        const s = net.connect(port, '127.0.0.1', () => {
          s.destroy();
          resolve(true);
        });
        s.on('error', () => resolve(undefined));
      });
    },
    10_000,
    50,
  );
  return {
    port,
    pid: child.pid ?? -1,
    async stop() {
      if (!exited) child.kill('SIGTERM');
      await exit;
      rmSync(dir, { recursive: true, force: true });
    },
  };
}
