import { EnvSecretStore, type EnvSecretStoreOptions } from './env-store.js';
import { KeychainSecretStore } from './keychain-store.js';
import { LayeredSecretStore } from './layered-store.js';

/** The store the app and the CLI use: ROLECALL_* variables first, then the OS keychain. */
export function createSecretStore(options: EnvSecretStoreOptions = {}): LayeredSecretStore {
  return new LayeredSecretStore(new EnvSecretStore(options), new KeychainSecretStore());
}
