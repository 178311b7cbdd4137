/**
 * Node errno codes that mean "nothing answered there": no such host, no
 * route, refused, reset or timed out. One list for every client of the
 * network (directory, sync pool, database checks, IPC error mapping), so they
 * cannot disagree about what counts as unreachable.
 */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'EPIPE', 'ETIMEDOUT', 'EHOSTUNREACH', 'ENETUNREACH', 'ENOTFOUND', 'EAI_AGAIN']);

/** True for an errno (an error's `code`) that means the server could not be reached. */
export function isUnreachable(errno: unknown): boolean {
  return typeof errno === 'string' && UNREACHABLE.has(errno);
}
