import { fork, type ChildProcess } from 'node:child_process';
import path from 'node:path';
import { build } from 'esbuild';
import type { ChildReply, ChildRequest, ChildStatus } from './proxy-protocol.js';

const HERE = import.meta.dirname;

/** The Rolecall proxy in a child process (bench/proxy-child.ts), on this Node or another one (execPath). */
export class ProxyChild {
  private constructor(private readonly child: ChildProcess) {}

  /**
   * The proxy runs bundled by esbuild, as the desktop app ships the engine
   * (dist/main/main.cjs), not through the tsx loader, whose compiler and
   * module cache would be counted in the proxy's memory.
   */
  static async start(execPath?: string): Promise<ProxyChild> {
    // Inside node_modules so the bundle's package imports resolve as the source's do.
    const outfile = path.join(HERE, '..', 'node_modules', '.cache', 'rolecall-bench', 'proxy-child.mjs');
    await build({
      entryPoints: [path.join(HERE, 'proxy-child.ts')],
      outfile,
      bundle: true,
      platform: 'node',
      format: 'esm',
      target: 'node20',
      packages: 'external',
      banner: { js: "import { createRequire as __rolecallCreateRequire } from 'node:module'; const require = __rolecallCreateRequire(import.meta.url);" },
      logLevel: 'warning',
    });
    const child = fork(outfile, [], {
      // BENCH_SHIPPED_NODE: the Node that Electron embeds, beside this one.
      ...(execPath ? { execPath } : {}),
      // BENCH_PROXY_NODE_OPTIONS adds Node flags to the proxy only (e.g. --cpu-prof).
      execArgv: ['--expose-gc', ...(process.env.BENCH_PROXY_NODE_OPTIONS ?? '').split(' ').filter(Boolean)],
      stdio: ['ignore', 'inherit', 'inherit', 'ipc'],
    });
    process.once('exit', () => child.kill('SIGKILL'));
    return new ProxyChild(child);
  }

  get pid(): number {
    return this.child.pid ?? -1;
  }

  request<T extends ChildReply['type']>(message: ChildRequest, expect: T): Promise<Extract<ChildReply, { type: T }>> {
    return new Promise((resolve, reject) => {
      const onMessage = (raw: unknown) => {
        const reply = raw as ChildReply;
        this.child.off('message', onMessage);
        this.child.off('exit', onExit);
        if (reply.type === expect) resolve(reply as Extract<ChildReply, { type: T }>);
        else reject(new Error(reply.type === 'error' ? reply.message : `unexpected reply ${reply.type}`));
      };
      const onExit = (code: number | null) => reject(new Error(`the proxy process exited (code ${code}) before answering ${message.type}`));
      this.child.on('message', onMessage);
      this.child.once('exit', onExit);
      this.child.send(message);
    });
  }

  status(gc = false): Promise<ChildStatus> {
    return this.request({ type: 'status', gc }, 'status');
  }
}
