/**
 * A check is a list of named steps, each passed or failed with a message that
 * says what was found or what to do. The names are fixed: the app, the CLI
 * (`rolecall doctor`) and the tests all use these.
 */
export type DirectoryStep = 'connect' | 'service bind' | 'base DN' | 'user bind' | 'user lookup' | 'groups';
export type DatabaseStep = 'connect' | 'tls' | 'sync login' | 'rolecall schema' | 'user login';
/** Team mode: each broker URL (connect, tls, ready), then with a login the sign-in through the broker. */
export type BrokerStep = 'connect' | 'tls' | 'ready' | 'sign in';

export interface Step<Name extends string = string> {
  step: Name;
  ok: boolean;
  message: string;
}

/** A secret as a check receives it: the value, or what to do because it cannot be had. */
export type SecretLookup = { ok: true; value: string } | { ok: false; message: string };

/** Words that depend on the host: the app has buttons, the CLI has commands. */
export interface CheckHints {
  /** How to install Rolecall's SQL, e.g. "run Database setup → Install". */
  install: string;
}

export function messageOf(e: unknown): string {
  return e instanceof Error ? e.message : String(e);
}
