import { spawn, type ChildProcess } from 'node:child_process';

/** A server process started by the harness, restartable in place (same command, same data). */
export interface Daemon {
  /** Whether the process is running now. */
  readonly alive: boolean;
  /** Everything it wrote to stderr (and stdout, when piped) since the last start. */
  readonly output: string;
  start(): void;
  /** SIGTERM, then SIGKILL after `graceMs`; resolves when it has exited. */
  stop(): Promise<void>;
}

const running = new Set<ChildProcess>();
process.once('exit', () => {
  for (const p of running) p.kill('SIGKILL');
});

/** Spawns `command` on start(); every process is killed if the test process exits first. */
export function daemon(command: string, args: string[], options: { stdout: boolean; graceMs: number }): Daemon {
  let child: ChildProcess | undefined;
  let alive = false;
  let output = '';
  return {
    get alive() {
      return alive;
    },
    get output() {
      return output;
    },
    start() {
      if (alive) return;
      const proc = spawn(command, args, { stdio: ['ignore', options.stdout ? 'pipe' : 'ignore', 'pipe'] });
      child = proc;
      alive = true;
      output = '';
      running.add(proc);
      proc.stdout?.on('data', (d: Buffer) => (output += d.toString()));
      proc.stderr?.on('data', (d: Buffer) => (output += d.toString()));
      proc.once('exit', () => {
        alive = false;
        running.delete(proc);
      });
    },
    async stop() {
      if (!alive || child === undefined) return;
      const proc = child;
      const gone = new Promise<void>((r) => proc.once('exit', () => r()));
      proc.kill('SIGTERM');
      const timer = setTimeout(() => proc.kill('SIGKILL'), options.graceMs);
      await gone;
      clearTimeout(timer);
    },
  };
}
