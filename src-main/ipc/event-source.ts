import type { ConnectionEvent, ProxyStatus } from '../core/proxy/profile-proxy.js';

/** What the hosts forward to the renderer from ProxyService: its two events (contract Events). */
export interface ProxyEventSource {
  on(event: 'status', listener: (status: ProxyStatus) => void): unknown;
  on(event: 'connection', listener: (event: ConnectionEvent) => void): unknown;
  off(event: 'status', listener: (status: ProxyStatus) => void): unknown;
  off(event: 'connection', listener: (event: ConnectionEvent) => void): unknown;
}
