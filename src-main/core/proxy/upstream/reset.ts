import { randomBytes } from 'node:crypto';
import type { Duplex } from 'node:stream';
import { BackendCode, TransactionStatus, cstring, message, queryMessage } from '../wire.js';

/**
 * Resetting a server connection a client has left, before another client of
 * the same login gets it (PgBouncer's server_reset_query, made verifiable).
 *
 * The proxy never parsed the relayed stream, so it does not know where the
 * server's messages begin. It sends two simple queries: first a sentinel
 * `SELECT '<random token>'` whose complete reply bytes are known in advance
 * (and cannot appear by chance: the token is fresh), then the reset query.
 * Once the sentinel reply is found, everything after it is at a message
 * boundary and is read strictly: the reset must end in ReadyForQuery with
 * status 'I' and no ErrorResponse on the way. Anything else, or silence, and
 * the connection is closed instead of reused.
 */

const SENTINEL_COLUMN = 'rolecall_reset';
const TEXT_OID = 25;
/** The bytes kept while waiting for the sentinel: old results stream through here and are dropped. */
const MAX_TAIL = 64 * 1024;

export interface ResetPlan {
  /** What to send upstream: the sentinel query, then the reset query. */
  request: Buffer;
  /** The server's complete reply to the sentinel, idle afterwards. */
  sentinelReply: Buffer;
}

export function planReset(resetQuery: string, token: string = randomBytes(12).toString('hex')): ResetPlan {
  const rowDescription = Buffer.alloc(2 + SENTINEL_COLUMN.length + 1 + 18);
  let o = rowDescription.writeInt16BE(1, 0);
  o += cstring(SENTINEL_COLUMN).copy(rowDescription, o);
  o = rowDescription.writeInt32BE(0, o); // table oid
  o = rowDescription.writeInt16BE(0, o); // column number
  o = rowDescription.writeInt32BE(TEXT_OID, o);
  o = rowDescription.writeInt16BE(-1, o); // type length: varlena
  o = rowDescription.writeInt32BE(-1, o); // type modifier
  rowDescription.writeInt16BE(0, o); // text format
  const value = Buffer.from(token, 'latin1');
  const dataRow = Buffer.alloc(6);
  dataRow.writeInt16BE(1, 0);
  dataRow.writeInt32BE(value.length, 2);
  const sentinelReply = Buffer.concat([
    message('T', rowDescription),
    message('D', Buffer.concat([dataRow, value])),
    message('C', cstring('SELECT 1')),
    message('Z', Buffer.from([TransactionStatus.idle])),
  ]);
  return {
    request: Buffer.concat([queryMessage(`SELECT '${token}'::text AS ${SENTINEL_COLUMN}`), queryMessage(resetQuery)]),
    sentinelReply,
  };
}

export type ResetVerdict = 'ok' | 'bad' | 'incomplete';

/**
 * Reads what the server sent after the reset request. `ok`: sentinel found,
 * then whole messages without an error ending in ReadyForQuery 'I', nothing after.
 */
export class ResetReader {
  private tail: Buffer = Buffer.alloc(0);
  private afterSentinel: Buffer | null = null;

  constructor(private readonly plan: ResetPlan) {}

  push(chunk: Buffer): ResetVerdict {
    if (this.afterSentinel === null) {
      this.tail = this.tail.length === 0 ? chunk : Buffer.concat([this.tail, chunk]);
      const at = this.tail.indexOf(this.plan.sentinelReply);
      if (at < 0) {
        // A transaction left open (BEGIN, then quit) shows as ReadyForQuery 'T' or 'E': give up early.
        if (endsWithReadyInTransaction(this.tail)) return 'bad';
        if (this.tail.length > MAX_TAIL) this.tail = this.tail.subarray(this.tail.length - this.plan.sentinelReply.length);
        return 'incomplete';
      }
      this.afterSentinel = this.tail.subarray(at + this.plan.sentinelReply.length);
      this.tail = Buffer.alloc(0);
    } else {
      this.afterSentinel = Buffer.concat([this.afterSentinel, chunk]);
    }
    return this.verdictAfterSentinel();
  }

  private verdictAfterSentinel(): ResetVerdict {
    const buf = this.afterSentinel as Buffer;
    let o = 0;
    for (;;) {
      if (buf.length - o < 5) return 'incomplete';
      const type = buf[o] as number;
      const length = buf.readInt32BE(o + 1);
      if (length < 4 || length > MAX_TAIL) return 'bad';
      if (buf.length - o < length + 1) return 'incomplete';
      if (type === BackendCode.errorResponse) return 'bad';
      if (type === BackendCode.readyForQuery) {
        const idle = length === 5 && buf[o + 5] === TransactionStatus.idle;
        return idle && o + length + 1 === buf.length ? 'ok' : 'bad';
      }
      o += length + 1;
    }
  }
}

function endsWithReadyInTransaction(buf: Buffer): boolean {
  if (buf.length < 6) return false;
  const z = buf.length - 6;
  if (buf[z] !== BackendCode.readyForQuery || buf.readInt32BE(z + 1) !== 5) return false;
  const status = buf[z + 5];
  return status === TransactionStatus.inTransaction || status === TransactionStatus.failed;
}

/**
 * Sends the reset and waits for the verdict (at most timeoutMs). The socket is
 * left paused with no listeners of ours; on false the caller destroys it.
 */
export function resetUpstream(socket: Duplex, resetQuery: string, timeoutMs: number): Promise<boolean> {
  const plan = planReset(resetQuery);
  const reader = new ResetReader(plan);
  return new Promise((resolve) => {
    let settled = false;
    const finish = (ok: boolean) => {
      if (settled) return;
      settled = true;
      clearTimeout(timer);
      socket.off('data', onData);
      socket.off('close', onGone);
      socket.off('end', onGone);
      socket.off('error', onGone);
      socket.pause();
      resolve(ok);
    };
    const onData = (chunk: Buffer) => {
      const verdict = reader.push(chunk);
      if (verdict !== 'incomplete') finish(verdict === 'ok');
    };
    const onGone = () => finish(false);
    const timer = setTimeout(() => finish(false), timeoutMs);
    socket.on('data', onData);
    socket.once('close', onGone);
    socket.once('end', onGone);
    socket.on('error', onGone);
    socket.write(plan.request);
    socket.resume();
  });
}
