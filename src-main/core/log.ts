import pino, { type Logger } from 'pino';

export type { Logger };

/**
 * Paths that may hold secrets. pino removes them before anything is written,
 * so a password or verifier handed to the logger by mistake never lands in a log.
 */
const REDACT = [
  'password',
  '*.password',
  '*.*.password',
  'verifier',
  '*.verifier',
  'bindPassword',
  '*.bindPassword',
  'databasePassword',
  '*.databasePassword',
  'secret',
  '*.secret',
];

export function createLogger(options: { level?: string; destination?: NodeJS.WritableStream | number } = {}): Logger {
  const level = options.level ?? process.env.ROLECALL_LOG_LEVEL ?? 'info';
  const destination = options.destination ?? 2;
  const stream =
    typeof destination === 'number' ? pino.destination({ fd: destination, sync: true }) : destination;
  return pino({ level, base: { app: 'rolecall' }, redact: { paths: REDACT, remove: true } }, stream);
}

/** A logger that drops everything: the default for library use and unit tests. */
export const silentLogger: Logger = pino({ level: 'silent' });
