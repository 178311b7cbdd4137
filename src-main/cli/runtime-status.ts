import { readFileSync } from 'node:fs';
import path from 'node:path';
import { writeFileAtomic } from '../core/profiles/atomic-write.js';
import type { ProxyStatus } from '../core/proxy/profile-proxy.js';

export interface RuntimeStatus {
  pid: number;
  updatedAt: number;
  config: string;
  proxies: ProxyStatus[];
}

/** `rolecall start` publishes its live status here; `rolecall status` reads it. */
export function runtimeStatusPath(configPath: string): string {
  return path.join(path.dirname(configPath), 'status.json');
}

export async function writeRuntimeStatus(file: string, status: RuntimeStatus): Promise<void> {
  await writeFileAtomic(file, `${JSON.stringify(status, null, 2)}\n`, 0o600);
}

export function readRuntimeStatus(file: string): RuntimeStatus | null {
  try {
    const s = JSON.parse(readFileSync(file, 'utf8')) as RuntimeStatus;
    process.kill(s.pid, 0); // throws when that process is gone
    return s;
  } catch {
    return null;
  }
}
