import type { Channel, EventName } from './contract.js';

/**
 * Electron IPC channel names for the contract, shared by the preload and the
 * main-process adapter. Prefixed so they cannot collide with Electron's or a
 * library's own channels, and so a request channel and an event of the same
 * name ('proxies.status') stay distinct.
 */
export function invokeChannel(channel: Channel): string {
  return `rolecall:invoke:${channel}`;
}

export function eventChannel(event: EventName): string {
  return `rolecall:event:${event}`;
}

/**
 * Every channel of the contract, spelled out so the sandboxed preload does not
 * bundle zod (the contract's request schemas) just to learn their names. The
 * checks below fail to compile when the contract gains or loses a channel and
 * this list does not follow; a unit test compares it with `channels` too.
 */
export const channelNames = [
  'profiles.list',
  'profiles.get',
  'profiles.save',
  'profiles.delete',
  'profiles.duplicate',
  'profiles.import',
  'profiles.export',
  'profiles.validate',
  'secrets.set',
  'secrets.has',
  'secrets.delete',
  'proxies.start',
  'proxies.stop',
  'proxies.status',
  'proxies.restart',
  'diagnostics.testDirectory',
  'diagnostics.testDatabase',
  'diagnostics.accessCheck',
  'setup.installSql',
  'setup.install',
  'setup.createSyncLogin',
  'history.query',
  'history.summary',
  'history.exportCsv',
  'history.clear',
  'settings.get',
  'settings.set',
  'clients.strings',
  'clients.writePgService',
  'clients.checkPort',
  'app.info',
  'team.inspect',
  'team.trust',
  'team.catalog',
  'team.add',
] as const satisfies readonly Channel[];
type MissingChannel = Exclude<Channel, (typeof channelNames)[number]>;
const everyChannelListed: [MissingChannel] extends [never] ? true : MissingChannel = true;
void everyChannelListed;

/** Every event of the contract; the check below fails to compile when Events grows and this list does not. */
export const eventNames = ['proxies.status', 'proxies.connection'] as const satisfies readonly EventName[];
type MissingEvent = Exclude<EventName, (typeof eventNames)[number]>;
const everyEventListed: [MissingEvent] extends [never] ? true : MissingEvent = true;
void everyEventListed;
