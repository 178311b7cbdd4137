import { readdirSync, readFileSync } from 'node:fs';
import os from 'node:os';

/** Clock ticks per second for /proc/<pid>/stat times (USER_HZ, 100 on Linux). */
const TICKS_PER_SECOND = 100;

/**
 * CPU time (user + system) a process has used so far, in ms, from
 * /proc/<pid>/stat: lets the bench compare the work PgBouncer and the
 * Rolecall proxy do per transaction, which is steadier than TPS on shared cores.
 */
export function processCpuMs(pid: number): number {
  if (os.platform() !== 'linux') return Number.NaN;
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  // Fields after the command name (which may contain spaces), numbered from 3.
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const utime = Number(fields[11]);
  const stime = Number(fields[12]);
  return ((utime + stime) * 1000) / TICKS_PER_SECOND;
}

/** The processes whose parent is `pid` (e.g. PostgreSQL's backends under the postmaster). */
export function childPids(pid: number): number[] {
  const out: number[] = [];
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const stat = readFileSync(`/proc/${entry}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(entry));
    } catch {
      // Gone between the listing and the read.
    }
  }
  return out;
}

/** CPU (ms) of a process and its children alive now: a server and its workers. */
export function treeCpuMs(pid: number): number {
  return [pid, ...childPids(pid)].reduce((sum, p) => {
    try {
      return sum + processCpuMs(p);
    } catch {
      return sum;
    }
  }, 0);
}

/** The pid of the process whose command line holds every one of `parts` (e.g. a server by its port argument). */
export function findPid(parts: string[]): number | undefined {
  for (const entry of readdirSync('/proc')) {
    if (!/^\d+$/.test(entry)) continue;
    try {
      const args = readFileSync(`/proc/${entry}/cmdline`, 'utf8').split('\0');
      if (parts.every((p) => args.includes(p))) return Number(entry);
    } catch {
      // Gone, or not ours to read.
    }
  }
  return undefined;
}
