import { spawn, type ChildProcess } from 'node:child_process';
import { writeFileSync } from 'node:fs';
import net from 'node:net';
import path from 'node:path';
import { freePort, waitFor } from './ports.js';

/*
 * Debian's HAProxy in front of broker replicas, as a team would run it:
 * `mode tcp` so TLS stays end to end (laptop to broker), each server
 * health-checked with GET /readyz over TLS (verified with the test CA), a
 * connection to a server that refuses it retried on another (redispatch).
 * The admin socket tells which servers it counts as up.
 */

export const HAPROXY = '/usr/sbin/haproxy';

export interface HaproxyServer {
  port: number;
  /** HAProxy's process, for the bench's CPU accounting. */
  pid: number;
  /** https://127.0.0.1:port */
  url: string;
  /** Server name → HAProxy's state of it ('UP', 'DOWN', 'MAINT', …). */
  states(): Promise<Record<string, string>>;
  /** Waits until HAProxy counts exactly these servers as up. */
  waitUp(names: string[], timeoutMs?: number): Promise<void>;
  log(): string;
  stop(): Promise<void>;
}

export interface HaproxyBackend {
  name: string;
  port: number;
}

export interface HaproxyOptions {
  /** How often each server's /readyz is asked (ms). */
  checkIntervalMs?: number;
  /** HAProxy's balance algorithm: roundrobin (the drills) or leastconn (the bench's long-lived laptop connections). */
  balance?: 'roundrobin' | 'leastconn';
}

export async function startHaproxy(dir: string, caFile: string, backends: HaproxyBackend[], options: HaproxyOptions = {}): Promise<HaproxyServer> {
  const { checkIntervalMs = 300, balance = 'roundrobin' } = options;
  const port = await freePort();
  const socket = path.join(dir, 'haproxy.sock');
  const cfg = path.join(dir, 'haproxy.cfg');
  writeFileSync(
    cfg,
    [
      'global',
      `  stats socket ${socket} mode 600 level admin`,
      '  maxconn 2000',
      'defaults',
      '  mode tcp',
      '  timeout connect 1s',
      '  timeout client 30s',
      '  timeout server 30s',
      '  timeout check 2s',
      '  retries 3',
      '  option redispatch 1',
      'listen broker',
      `  bind 127.0.0.1:${port}`,
      `  balance ${balance}`,
      '  option httpchk',
      '  http-check send meth GET uri /readyz ver HTTP/1.1 hdr Host localhost',
      '  http-check expect status 200',
      `  default-server check check-ssl verify required ca-file ${caFile} inter ${checkIntervalMs} fall 2 rise 2`,
      ...backends.map((b) => `  server ${b.name} 127.0.0.1:${b.port}`),
      '',
    ].join('\n'),
  );
  const child: ChildProcess = spawn(HAPROXY, ['-f', cfg, '-db'], { stdio: ['ignore', 'pipe', 'pipe'] });
  let log = '';
  child.stdout?.on('data', (d: Buffer) => (log += d.toString()));
  child.stderr?.on('data', (d: Buffer) => (log += d.toString()));
  const exited = new Promise<void>((resolve) => child.once('exit', () => resolve()));
  process.once('exit', () => child.kill('SIGKILL'));

  const command = (line: string) =>
    new Promise<string>((resolve, reject) => {
      const c = net.connect(socket);
      let out = '';
      c.on('data', (d: Buffer) => (out += d.toString()));
      c.on('end', () => resolve(out));
      c.on('error', reject);
      c.end(`${line}\n`);
    });
  const states = async (): Promise<Record<string, string>> => {
    // "show stat": CSV, field 1 is the server name, field 17 its status.
    const csv = await command('show stat');
    const out: Record<string, string> = {};
    for (const row of csv.split('\n')) {
      const f = row.split(',');
      if (f[0] === 'broker' && f[1] !== undefined && f[1] !== 'FRONTEND' && f[1] !== 'BACKEND') out[f[1]] = f[17] ?? '';
    }
    return out;
  };
  const server: HaproxyServer = {
    port,
    pid: child.pid ?? -1,
    url: `https://127.0.0.1:${port}`,
    states,
    async waitUp(names, timeoutMs = 30_000) {
      const want = [...names].sort().join(',');
      await waitFor(
        `HAProxy to count ${want} as up`,
        async () => {
          const s = await states();
          const up = Object.entries(s).filter(([, st]) => st.startsWith('UP')).map(([n]) => n).sort().join(',');
          return up === want ? true : undefined;
        },
        timeoutMs,
        100,
      );
    },
    log: () => log,
    async stop() {
      child.kill('SIGTERM');
      await exited;
    },
  };
  await waitFor('HAProxy to listen', async () => ((await states().catch(() => undefined)) === undefined ? undefined : true), 10_000, 50).catch((e: unknown) => {
    throw new Error(`${(e as Error).message}\n${log}`);
  });
  return server;
}
