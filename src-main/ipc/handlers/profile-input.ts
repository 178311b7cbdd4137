import { findSecretKeys } from '../../core/profiles/secret-keys.js';
import { profileSchema, toFieldErrors, type Profile } from '../../core/profiles/schema.js';
import { invalid } from './handler-error.js';

/**
 * A profile from the renderer (saved or an unsaved edit), validated with the
 * one schema. Secret-looking keys are refused rather than silently dropped.
 */
export function validateProfile(raw: unknown): Profile {
  const secretFields = findSecretKeys(raw);
  if (secretFields.length > 0) {
    throw invalid('passwords never go in a profile: they are stored in the OS keychain', secretFields);
  }
  const parsed = profileSchema.safeParse(raw);
  if (!parsed.success) throw invalid('some fields of the profile are not valid', toFieldErrors(parsed.error));
  return parsed.data;
}
