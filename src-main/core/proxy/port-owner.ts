import { execFile } from 'node:child_process';

function run(cmd: string, args: string[]): Promise<string> {
  return new Promise((resolve) => {
    execFile(cmd, args, { timeout: 2000 }, (err, stdout) => resolve(err ? '' : stdout));
  });
}

/**
 * Which process listens on a TCP port, where the OS tells us: `ss` on Linux,
 * `lsof` on macOS, `netstat` on Windows. Best effort; undefined when unknown.
 */
export async function describePortOwner(port: number): Promise<string | undefined> {
  if (process.platform === 'linux') {
    const out = await run('ss', ['-ltnpH', `sport = :${port}`]);
    const m = /users:\(\("([^"]+)",pid=(\d+)/.exec(out);
    if (m) return `${m[1]} (pid ${m[2]})`;
  }
  if (process.platform === 'darwin' || process.platform === 'linux') {
    const out = await run('lsof', ['-nP', `-iTCP:${port}`, '-sTCP:LISTEN', '-Fpc']);
    const pid = /^p(\d+)$/m.exec(out)?.[1];
    const cmd = /^c(.+)$/m.exec(out)?.[1];
    if (pid) return `${cmd ?? 'process'} (pid ${pid})`;
  }
  if (process.platform === 'win32') {
    const out = await run('netstat', ['-ano', '-p', 'TCP']);
    const line = out.split(/\r?\n/).find((l) => new RegExp(`:${port}\\s.*LISTENING`).test(l));
    const pid = line?.trim().split(/\s+/).pop();
    if (pid) return `pid ${pid}`;
  }
  return undefined;
}
