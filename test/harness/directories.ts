import { DirectoryError, type Directory } from '../../src-main/core/directory/index.js';

/** The DirectoryError a call fails with; any other outcome fails the test. */
export async function directoryRejection(p: Promise<unknown>): Promise<DirectoryError> {
  try {
    await p;
  } catch (e) {
    if (e instanceof DirectoryError) return e;
    throw e;
  }
  throw new Error('expected a DirectoryError, but the call succeeded');
}

/** Directories a test file opened, closed together at the end (each keeps pooled service connections). */
export function directoryTracker(): { track(d: Directory): Directory; closeAll(): Promise<void> } {
  const opened: Directory[] = [];
  return {
    track(d) {
      opened.push(d);
      return d;
    },
    async closeAll() {
      await Promise.all(opened.splice(0).map((d) => d.close()));
    },
  };
}
