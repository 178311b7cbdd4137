export interface CliIo {
  stdout: NodeJS.WritableStream;
  stderr: NodeJS.WritableStream;
  stdin: NodeJS.ReadableStream & { isTTY?: boolean };
  env: NodeJS.ProcessEnv;
}

export class UsageError extends Error {}

export function println(stream: NodeJS.WritableStream, text = ''): void {
  stream.write(`${text}\n`);
}

/** Reads a secret from stdin (piped), or prompts without echo on a terminal. */
export async function readSecret(io: CliIo, prompt: string): Promise<string> {
  const stdin = io.stdin as NodeJS.ReadStream;
  if (stdin.isTTY) {
    io.stderr.write(prompt);
    stdin.setRawMode(true);
    stdin.resume();
    return new Promise((resolve, reject) => {
      let value = '';
      const onData = (buf: Buffer) => {
        for (const ch of buf.toString('utf8')) {
          if (ch === '\r' || ch === '\n') {
            done();
            resolve(value);
            return;
          }
          if (ch === '\u0003') {
            done();
            reject(new UsageError('cancelled'));
            return;
          }
          if (ch === '\u007f') value = value.slice(0, -1);
          else value += ch;
        }
      };
      const done = () => {
        stdin.off('data', onData);
        stdin.setRawMode(false);
        stdin.pause();
        io.stderr.write('\n');
      };
      stdin.on('data', onData);
    });
  }
  const chunks: Buffer[] = [];
  for await (const c of stdin) chunks.push(Buffer.isBuffer(c) ? c : Buffer.from(String(c)));
  return Buffer.concat(chunks).toString('utf8').replace(/\r?\n$/, '');
}

/** A user's directory password: ROLECALL_PASSWORD (for scripts), else read as a secret (no echo on a terminal). Never stored. */
export async function readPassword(io: CliIo, prompt: string): Promise<string> {
  const password = io.env.ROLECALL_PASSWORD ?? (await readSecret(io, prompt));
  if (password === '') throw new UsageError('no password given: type it at the prompt, pipe it on stdin, or set ROLECALL_PASSWORD');
  return password;
}
