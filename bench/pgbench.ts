import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';

export const PGBENCH = ['/usr/lib/postgresql/15/bin/pgbench', '/usr/bin/pgbench'].find((p) => existsSync(p)) ?? 'pgbench';

export interface Endpoint {
  name: string;
  port: number;
  /** libpq sslmode: the direct path uses TLS like the proxies' server hop; the loopback hop to a proxy does not. */
  sslmode: 'require' | 'disable';
}

export interface Run {
  code: number;
  stdout: string;
  stderr: string;
  ms: number;
}

export function run(cmd: string, args: string[], env: Record<string, string>): Promise<Run> {
  const started = performance.now();
  return new Promise((resolve) => {
    const child = spawn(cmd, args, { env: { PATH: process.env.PATH ?? '', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
    let stdout = '';
    let stderr = '';
    child.stdout.on('data', (d: Buffer) => (stdout += d.toString()));
    child.stderr.on('data', (d: Buffer) => (stderr += d.toString()));
    child.on('close', (code) => resolve({ code: code ?? -1, stdout, stderr, ms: performance.now() - started }));
  });
}

export function libpqEnv(e: Endpoint, user: string, password: string): Record<string, string> {
  return { PGHOST: '127.0.0.1', PGPORT: String(e.port), PGUSER: user, PGPASSWORD: password, PGSSLMODE: e.sslmode, PGDATABASE: 'app' };
}

/** pgbench -S for `seconds`; returns transactions per second. */
export async function pgbench(e: Endpoint, user: string, password: string, args: string[], seconds: number): Promise<number> {
  const r = await run(PGBENCH, ['-n', '-S', ...args, '-T', String(seconds)], libpqEnv(e, user, password));
  const tps = /tps = ([0-9.]+)/.exec(r.stdout);
  if (r.code !== 0 || !tps) throw new Error(`pgbench against ${e.name} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
  return Number(tps[1]);
}

/**
 * pgbench -S -c 1 for `seconds` with a per-transaction log: every
 * transaction's latency in µs (one client, so each is one round trip plus the
 * server's work). The log is read and removed.
 */
export async function pgbenchLatencies(e: Endpoint, user: string, password: string, seconds: number): Promise<number[]> {
  const dir = mkdtempSync(path.join(os.tmpdir(), 'bench-latency-'));
  try {
    const r = await run(PGBENCH, ['-n', '-S', '-c', '1', '-j', '1', '-T', String(seconds), '-l', `--log-prefix=${path.join(dir, 'tx')}`], libpqEnv(e, user, password));
    if (r.code !== 0) throw new Error(`pgbench -c 1 against ${e.name} failed (${r.code}): ${r.stderr.trim() || r.stdout.trim()}`);
    const out: number[] = [];
    for (const f of readdirSync(dir)) {
      // client_id transaction_no time_us script_no time_epoch time_us_part
      for (const line of readFileSync(path.join(dir, f), 'utf8').split('\n')) {
        const us = Number(line.split(' ')[2]);
        if (line && Number.isFinite(us)) out.push(us);
      }
    }
    return out;
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}
