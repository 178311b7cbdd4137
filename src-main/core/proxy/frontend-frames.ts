/**
 * Where the client's messages begin while relaying. Every frontend message
 * after the startup phase is a type byte and an int32 length (counting
 * itself), then a body; only those five header bytes are read, never a body
 * and never a copy, so a COPY of gigabytes costs one step per message. That is
 * enough to tell a real Terminate from five bytes that look like one inside a
 * larger message, and whether an extended-protocol batch still waits for its
 * Sync. The server's side, the bulk direction, is not looked at.
 */

const TERMINATE = 0x58; // X
const SYNC = 0x53; // S
// Extended-protocol messages: the server finishes what they start (and the implicit transaction) only at a Sync.
const PARSE = 0x50; // P
const BIND = 0x42; // B
const DESCRIBE = 0x44; // D
const EXECUTE = 0x45; // E
const CLOSE = 0x43; // C

const HEADER = 5;

export class FrontendFrames {
  /** Body bytes of the current message still to come. */
  private rest = 0;
  /** Bytes of a header split across chunks seen so far (0 when none), and what they said. */
  private headerSeen = 0;
  private type = 0;
  private length = 0;
  /** An extended-protocol message was sent with no Sync after it: the server is inside a batch, maybe an implicit transaction. */
  unsynced = false;
  /** A length below 4: the stream no longer makes sense (the server will say so); nothing more is read or trusted. */
  lost = false;

  /**
   * Reads the headers in one chunk of client bytes, in order. Returns the
   * offset just past a Terminate that began at a message boundary (its start
   * is 5 bytes before; negative when its header began in an earlier chunk),
   * or -1 when the chunk holds none. Stops at the Terminate: the client is done.
   */
  findTerminate(chunk: Buffer): number {
    if (this.lost) return -1;
    const n = chunk.length;
    let o = 0;
    while (o < n) {
      if (this.rest > 0) {
        const skip = Math.min(this.rest, n - o);
        this.rest -= skip;
        o += skip;
        continue;
      }
      if (this.headerSeen === 0 && n - o >= HEADER) {
        this.type = chunk[o] as number;
        this.length = chunk.readUInt32BE(o + 1);
        o += HEADER;
      } else {
        // A header split across chunks (rare): one byte at a time.
        const b = chunk[o++] as number;
        if (this.headerSeen === 0) {
          this.type = b;
          this.length = 0;
        } else this.length = this.length * 256 + b;
        if (++this.headerSeen < HEADER) continue;
        this.headerSeen = 0;
      }
      if (this.length < 4) {
        this.lost = true;
        return -1;
      }
      this.rest = this.length - 4;
      switch (this.type) {
        case TERMINATE:
          if (this.length === 4) return o;
          break;
        case SYNC:
          this.unsynced = false;
          break;
        case PARSE:
        case BIND:
        case DESCRIBE:
        case EXECUTE:
        case CLOSE:
          this.unsynced = true;
          break;
      }
    }
    return -1;
  }
}
