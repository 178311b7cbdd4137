/** Messages between the bench runner and the proxy child (bench/proxy-child.ts). */
import type { ProfileInput } from '../src-main/core/profiles/schema.js';
import type { AuthCounters } from '../src-main/core/auth/authenticator.js';
import type { UpstreamPoolCounters } from '../src-main/core/proxy/upstream/pool.js';

export type ChildRequest =
  | { type: 'start'; profile: ProfileInput; bindPassword: string; syncPassword: string; tlsDir: string }
  | { type: 'status'; gc?: boolean }
  | { type: 'stop' };

export interface ChildStatus {
  type: 'status';
  rssBytes: number;
  /** V8 heap in use and memory outside it (Buffers, TLS), for where the RSS goes. */
  heapUsedBytes: number;
  externalBytes: number;
  heapTotalBytes: number;
  /** CPU time (user + system) the proxy process has used so far, in ms. */
  cpuMs: number;
  /** Timer callbacks run so far (bench/count-timers.ts). */
  timerWakeups: number;
  /** The Node version the proxy runs on. */
  node: string;
  auth: AuthCounters | null;
  pool: (UpstreamPoolCounters & { idle: number }) | null;
  pbkdf2Runs: number;
  sessions: number;
}

export type ChildReply = { type: 'started' } | { type: 'stopped' } | { type: 'error'; message: string } | ChildStatus;
