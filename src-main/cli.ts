import { runCli } from './cli/commands.js';

/** Entry point of the `rolecall` command (bin/rolecall.mjs): a thin host of the engine in src-main/core. */
export async function main(argv: string[]): Promise<number> {
  return runCli(argv, { stdout: process.stdout, stderr: process.stderr, stdin: process.stdin, env: process.env });
}
