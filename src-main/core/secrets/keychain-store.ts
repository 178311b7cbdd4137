import { createRequire } from 'node:module';
import {
  checkSecretKey,
  checkSecretValue,
  SecretStoreError,
  type SecretName,
  type SecretStore,
} from './secret-store.js';

/** The part of keytar we use. */
export interface KeytarApi {
  getPassword(service: string, account: string): Promise<string | null>;
  setPassword(service: string, account: string, password: string): Promise<void>;
  deletePassword(service: string, account: string): Promise<boolean>;
}

export interface KeychainSecretStoreOptions {
  /** Keychain service name; accounts are `${profileId}/${name}`. */
  service?: string;
  /** How to load keytar; the default requires the native module on first use. */
  loadKeytar?: () => KeytarApi;
}

const NO_SECRET_SERVICE =
  'no Secret Service on the session bus: install/unlock gnome-keyring or use ROLECALL_* environment variables';

function requireKeytar(): KeytarApi {
  // keytar is a native CommonJS module; loading it lazily keeps env-only and
  // demo use working on machines where it cannot load.
  const require = createRequire(import.meta.url);
  return require('keytar') as KeytarApi;
}

function backendName(platform: NodeJS.Platform): string {
  if (platform === 'darwin') return 'macOS Keychain via keytar';
  if (platform === 'win32') return 'Windows Credential Manager via keytar';
  return 'Secret Service (gnome-keyring or compatible) via keytar';
}

/** Turns a keytar/libsecret failure into one the user can act on. */
function explain(error: unknown, action: string): SecretStoreError {
  const detail = error instanceof Error ? error.message : String(error);
  if (/d-?bus|x11|\$DISPLAY|org\.freedesktop\.secrets|secret service|autolaunch|no such interface/i.test(detail)) {
    return new SecretStoreError('unavailable', `${NO_SECRET_SERVICE} (${action}: ${detail})`, { cause: error });
  }
  return new SecretStoreError('unavailable', `the OS keychain failed to ${action}: ${detail}`, { cause: error });
}

/**
 * Secrets in the OS keychain through keytar. There is deliberately no file
 * fallback: if the keychain is unavailable, the caller says so.
 */
export class KeychainSecretStore implements SecretStore {
  private readonly service: string;
  private readonly loadKeytar: () => KeytarApi;
  private keytar: KeytarApi | undefined;

  constructor(options: KeychainSecretStoreOptions = {}) {
    this.service = options.service ?? 'rolecall';
    this.loadKeytar = options.loadKeytar ?? requireKeytar;
  }

  async get(profileId: string, name: SecretName): Promise<string | null> {
    checkSecretKey(profileId, name);
    const keytar = this.api();
    try {
      return await keytar.getPassword(this.service, `${profileId}/${name}`);
    } catch (e) {
      throw explain(e, `read ${profileId}/${name}`);
    }
  }

  async set(profileId: string, name: SecretName, value: string): Promise<void> {
    checkSecretKey(profileId, name);
    checkSecretValue(value);
    const keytar = this.api();
    try {
      await keytar.setPassword(this.service, `${profileId}/${name}`, value);
    } catch (e) {
      throw explain(e, `store ${profileId}/${name}`);
    }
  }

  async delete(profileId: string, name: SecretName): Promise<boolean> {
    checkSecretKey(profileId, name);
    const keytar = this.api();
    try {
      return await keytar.deletePassword(this.service, `${profileId}/${name}`);
    } catch (e) {
      throw explain(e, `delete ${profileId}/${name}`);
    }
  }

  async has(profileId: string, name: SecretName): Promise<boolean> {
    return (await this.get(profileId, name)) !== null;
  }

  describe(): string {
    return `${backendName(process.platform)} (service "${this.service}")`;
  }

  private api(): KeytarApi {
    if (this.keytar) return this.keytar;
    try {
      this.keytar = this.loadKeytar();
    } catch (e) {
      const detail = e instanceof Error ? e.message : String(e);
      throw new SecretStoreError(
        'unavailable',
        `the keytar native module could not be loaded (${detail}): run \`npm rebuild keytar\` (Linux needs libsecret-1-dev) or use ROLECALL_* environment variables`,
        { cause: e },
      );
    }
    return this.keytar;
  }
}
