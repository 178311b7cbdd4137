import type { SecretName, SecretStore } from './secret-store.js';

/**
 * Reads from the environment first, then the keychain; writes go to the
 * keychain. The keychain is not touched when the environment has the answer,
 * so headless machines without a Secret Service work.
 */
export class LayeredSecretStore implements SecretStore {
  constructor(
    private readonly env: SecretStore,
    private readonly keychain: SecretStore,
  ) {}

  async get(profileId: string, name: SecretName): Promise<string | null> {
    return (await this.env.get(profileId, name)) ?? (await this.keychain.get(profileId, name));
  }

  set(profileId: string, name: SecretName, value: string): Promise<void> {
    return this.keychain.set(profileId, name, value);
  }

  delete(profileId: string, name: SecretName): Promise<boolean> {
    return this.keychain.delete(profileId, name);
  }

  async has(profileId: string, name: SecretName): Promise<boolean> {
    return (await this.env.has(profileId, name)) || (await this.keychain.has(profileId, name));
  }

  describe(): string {
    return `${this.env.describe()}, then ${this.keychain.describe()}`;
  }
}
