import type { ConnectionEvent, ProxyStatus } from '../core/proxy/profile-proxy.js';
import type { BrokerTroubleEvent } from '../core/service.js';

/** What the hosts forward to the renderer from ProxyService: its two events (contract Events). */
export interface ProxyEventSource {
  on(event: 'status', listener: (status: ProxyStatus) => void): unknown;
  on(event: 'connection', listener: (event: ConnectionEvent) => void): unknown;
  off(event: 'status', listener: (status: ProxyStatus) => void): unknown;
  off(event: 'connection', listener: (event: ConnectionEvent) => void): unknown;
}

/** A broker profile's sign-in failures worth a desktop notification (ProxyService's 'broker' event). */
export interface BrokerEventSource {
  on(event: 'broker', listener: (event: BrokerTroubleEvent) => void): unknown;
  off(event: 'broker', listener: (event: BrokerTroubleEvent) => void): unknown;
}
