/**
 * What can go wrong when asking the directory, in words the proxy can turn
 * into a precise message for the user. `adCode` keeps Active Directory's bind
 * sub-code (the `data 52e` part of its diagnostic message) for the logs.
 */
export type DirectoryFailure =
  | 'invalid-credentials'
  | 'account-disabled'
  | 'account-locked'
  | 'account-expired'
  | 'password-expired'
  | 'password-must-change'
  | 'logon-not-permitted'
  /** DOMAIN\name with a NetBIOS domain the profile does not accept (netbiosDomains); said before any bind. */
  | 'domain-not-accepted'
  | 'unreachable'
  | 'timeout'
  | 'ambiguous'
  | 'misconfigured'
  | 'failed';

/** Which step of the directory test failed, when the error knows (the checks name their steps by it). */
export type DirectoryStage = 'connect' | 'service bind' | 'base DN';

export class DirectoryError extends Error {
  readonly failure: DirectoryFailure;
  readonly adCode?: string;
  readonly stage?: DirectoryStage;
  /** 'ambiguous' only: the accounts are in different domains of the forest (no other way of typing the login helps). */
  readonly acrossDomains?: boolean;

  constructor(
    failure: DirectoryFailure,
    message: string,
    options: { adCode?: string; cause?: unknown; stage?: DirectoryStage; acrossDomains?: boolean } = {},
  ) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'DirectoryError';
    this.failure = failure;
    if (options.adCode !== undefined) this.adCode = options.adCode;
    if (options.stage !== undefined) this.stage = options.stage;
    if (options.acrossDomains) this.acrossDomains = true;
  }
}

/** Active Directory bind sub-codes and what each means for the user. */
const AD_CODES: Record<string, { failure: DirectoryFailure; meaning: string }> = {
  '52e': { failure: 'invalid-credentials', meaning: 'invalid credentials' },
  '525': { failure: 'invalid-credentials', meaning: 'user not found' },
  '530': { failure: 'logon-not-permitted', meaning: 'logon not permitted at this time' },
  '531': { failure: 'logon-not-permitted', meaning: 'logon not permitted from this workstation' },
  '532': { failure: 'password-expired', meaning: 'password expired' },
  '533': { failure: 'account-disabled', meaning: 'account disabled' },
  '701': { failure: 'account-expired', meaning: 'account expired' },
  '773': { failure: 'password-must-change', meaning: 'password must be reset' },
  '775': { failure: 'account-locked', meaning: 'account locked' },
};

/** The `data XXX` sub-code in an AD bind error message, lowercased, if any. */
export function parseAdSubCode(message: string): string | undefined {
  const m = /\bdata ([0-9a-f]{3,8})\b/i.exec(message);
  return m?.[1]?.toLowerCase();
}

/**
 * Maps an AD sub-code to a failure. Unknown codes on a failed bind are treated
 * as invalid credentials: the bind did fail, and we say no more than that.
 */
export function adSubCodeFailure(code: string | undefined): { failure: DirectoryFailure; meaning: string } {
  const known = code === undefined ? undefined : AD_CODES[code];
  return known ?? { failure: 'invalid-credentials', meaning: code === undefined ? 'bind rejected' : `bind rejected (sub-code ${code})` };
}
