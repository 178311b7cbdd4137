import os from 'node:os';

/**
 * Notices network changes without the renderer (navigator.onLine lives in a
 * window that may not exist): polls the OS's interface list and compares a
 * fingerprint of the external addresses. Cheap: no sockets, no DNS.
 */
export type InterfaceTable = NodeJS.Dict<os.NetworkInterfaceInfo[]>;

export interface NetworkSnapshot {
  fingerprint: string;
  /** At least one non-loopback address is up. */
  online: boolean;
}

export function networkSnapshot(table: InterfaceTable): NetworkSnapshot {
  const addresses: string[] = [];
  for (const [name, infos] of Object.entries(table)) {
    for (const info of infos ?? []) {
      // Link-local IPv6 addresses exist on every up interface and say nothing about reachability.
      if (info.internal || (info.family === 'IPv6' && info.address.toLowerCase().startsWith('fe80:'))) continue;
      addresses.push(`${name} ${info.family} ${info.address}`);
    }
  }
  addresses.sort();
  return { fingerprint: addresses.join('\n'), online: addresses.length > 0 };
}

export interface NetworkWatchOptions {
  intervalMs: number;
  onChange(before: NetworkSnapshot, after: NetworkSnapshot): void;
  read?: () => InterfaceTable;
}

/** Polls until the returned function is called; the timer never keeps the process alive. */
export function watchNetwork(options: NetworkWatchOptions): () => void {
  const read = options.read ?? os.networkInterfaces;
  let last = networkSnapshot(read());
  const timer = setInterval(() => {
    let next: NetworkSnapshot;
    try {
      next = networkSnapshot(read());
    } catch {
      return; // a failed read is not a change
    }
    if (next.fingerprint === last.fingerprint) return;
    const before = last;
    last = next;
    options.onChange(before, next);
  }, options.intervalMs);
  timer.unref();
  return () => clearInterval(timer);
}
