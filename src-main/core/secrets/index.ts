export {
  secretNames,
  isSecretName,
  SecretStoreError,
  type SecretName,
  type SecretStore,
  type SecretStoreErrorCode,
} from './secret-store.js';
export { EnvSecretStore, envVarNames, type EnvSecretStoreOptions } from './env-store.js';
export { KeychainSecretStore, type KeychainSecretStoreOptions, type KeytarApi } from './keychain-store.js';
export { LayeredSecretStore } from './layered-store.js';
export { MemorySecretStore } from './memory-store.js';
export { createSecretStore } from './create-store.js';
export { SECRET_WHAT, missingSecretMessage, unreadableSecretMessage } from './secret-text.js';
