import { checkSecretKey, checkSecretValue, type SecretName, type SecretStore } from './secret-store.js';

/** Keeps secrets in process memory only: for tests and the demo. */
export class MemorySecretStore implements SecretStore {
  private readonly values = new Map<string, string>();

  constructor(initial: Iterable<[profileId: string, name: SecretName, value: string]> = []) {
    for (const [profileId, name, value] of initial) {
      checkSecretKey(profileId, name);
      checkSecretValue(value);
      this.values.set(`${profileId}/${name}`, value);
    }
  }

  async get(profileId: string, name: SecretName): Promise<string | null> {
    checkSecretKey(profileId, name);
    return this.values.get(`${profileId}/${name}`) ?? null;
  }

  async set(profileId: string, name: SecretName, value: string): Promise<void> {
    checkSecretKey(profileId, name);
    checkSecretValue(value);
    this.values.set(`${profileId}/${name}`, value);
  }

  async delete(profileId: string, name: SecretName): Promise<boolean> {
    checkSecretKey(profileId, name);
    return this.values.delete(`${profileId}/${name}`);
  }

  async has(profileId: string, name: SecretName): Promise<boolean> {
    return (await this.get(profileId, name)) !== null;
  }

  describe(): string {
    return 'memory (not persisted)';
  }
}
