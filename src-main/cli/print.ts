import type { FieldError } from '../core/profiles/schema.js';
import { println, type CliIo } from './io.js';

export function printFieldErrors(io: CliIo, file: string, errors: FieldError[], movedAsideTo?: string): void {
  println(io.stderr, `${file}: invalid configuration`);
  for (const e of errors) println(io.stderr, `  ${e.path || '(file)'}: ${e.message}`);
  if (movedAsideTo) println(io.stderr, `  the unreadable file was kept as ${movedAsideTo}; fix it or start from an empty config`);
}
