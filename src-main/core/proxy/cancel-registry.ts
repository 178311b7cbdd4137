import { cancelTarget } from './wire.js';

/**
 * Which upstream a CancelRequest belongs to. Keys are the server's own
 * BackendKeyData (passed to the client unchanged), so a cancel only needs
 * forwarding. Unknown keys are dropped: a guess never opens an upstream connection.
 */
export class CancelRegistry<T> {
  private readonly byKey = new Map<string, T>();

  private static key(pid: number, secret: Buffer): string {
    return `${pid}:${secret.toString('hex')}`;
  }

  add(pid: number, secret: Buffer, target: T): () => void {
    const k = CancelRegistry.key(pid, secret);
    this.byKey.set(k, target);
    return () => {
      if (this.byKey.get(k) === target) this.byKey.delete(k);
    };
  }

  /** Looks up a raw CancelRequest packet (length, code, pid, secret key). */
  find(packet: Buffer): T | undefined {
    const named = cancelTarget(packet);
    return named && this.byKey.get(CancelRegistry.key(named.pid, named.key));
  }

  get size(): number {
    return this.byKey.size;
  }
}
