import { promises as fs } from 'node:fs';
import type { z } from 'zod';
import { writeFileAtomic } from './atomic-write.js';
import { findSecretKeys } from './secret-keys.js';
import { configSchema, toFieldErrors, type Config, type FieldError, type Profile, type ProfileInput } from './schema.js';

export { defaultConfigPath } from './config-path.js';

/** What callers may hand to save(): defaults are filled in by the schema. */
export type ConfigInput = z.input<typeof configSchema>;

export type LoadResult =
  | { ok: true; config: Config; path: string }
  | { ok: false; errors: FieldError[]; path: string; movedAsideTo?: string };

/** Thrown by the convenience methods when the file on disk cannot be used. */
export class ConfigLoadError extends Error {
  constructor(readonly errors: FieldError[], readonly path: string) {
    super(`${path}: ${errors.map((e) => (e.path ? `${e.path}: ${e.message}` : e.message)).join('; ')}`);
    this.name = 'ConfigLoadError';
  }
}

const SUPPORTED_VERSION = 1;

/**
 * The profiles file: `{"version":1,"profiles":[...],"settings":{...}}`.
 * Loading never loses the user's file: unparseable JSON is moved aside and
 * reported, invalid content is reported and left alone. Saving validates first
 * and replaces the file atomically with mode 0600.
 */
export class ProfileStore {
  /** Serializes read-modify-write so two quick edits cannot undo each other. */
  private queue: Promise<unknown> = Promise.resolve();

  constructor(readonly filePath: string) {}

  /**
   * Reads and validates the file. moveCorruptAside: false only reports
   * unparseable JSON (for `profiles validate`, which must not touch the file).
   */
  async load(options: { moveCorruptAside?: boolean } = {}): Promise<LoadResult> {
    const path = this.filePath;
    let text: string;
    try {
      text = await fs.readFile(path, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') {
        return { ok: true, config: configSchema.parse({ version: SUPPORTED_VERSION }), path };
      }
      return { ok: false, errors: [{ path: '', message: `cannot read the file: ${(e as Error).message}` }], path };
    }

    let raw: unknown;
    try {
      raw = JSON.parse(text);
    } catch (e) {
      if (options.moveCorruptAside === false) {
        return { ok: false, path, errors: [{ path: '', message: `not valid JSON (${(e as Error).message})` }] };
      }
      const movedAsideTo = await this.moveAside();
      return {
        ok: false,
        path,
        movedAsideTo,
        errors: [{ path: '', message: `not valid JSON (${(e as Error).message}); the file was moved aside to ${movedAsideTo}` }],
      };
    }

    const errors = validate(raw);
    if (errors.length > 0) return { ok: false, errors, path };
    return { ok: true, config: configSchema.parse(raw), path };
  }

  /** Validates, then writes atomically. Returns the errors instead of writing anything if invalid. */
  save(config: ConfigInput): Promise<FieldError[] | null> {
    return this.exclusive(() => this.write(config));
  }

  /** Adds the profile, or replaces the one with the same id. Errors about it are relative to the profile. */
  upsertProfile(profile: ProfileInput): Promise<FieldError[] | null> {
    return this.exclusive(async () => {
      const loaded = await this.load();
      if (!loaded.ok) return loaded.errors.map((e) => ({ ...e, path: e.path ? `file.${e.path}` : 'file' }));
      const profiles: ProfileInput[] = [...loaded.config.profiles];
      let index = profiles.findIndex((p) => p.id === profile.id);
      if (index === -1) index = profiles.push(profile) - 1;
      else profiles[index] = profile;
      const errors = await this.write({ ...loaded.config, profiles });
      return errors && errors.map((e) => relativeTo(e, `profiles.${index}`));
    });
  }

  /** Removes a profile; false when there was none with that id. */
  deleteProfile(id: string): Promise<boolean> {
    return this.exclusive(async () => {
      const loaded = await this.load();
      if (!loaded.ok) throw new ConfigLoadError(loaded.errors, loaded.path);
      const profiles: Profile[] = loaded.config.profiles.filter((p) => p.id !== id);
      if (profiles.length === loaded.config.profiles.length) return false;
      const errors = await this.write({ ...loaded.config, profiles });
      if (errors) throw new ConfigLoadError(errors, this.filePath);
      return true;
    });
  }

  private async write(config: ConfigInput): Promise<FieldError[] | null> {
    const errors = validate(config);
    if (errors.length > 0) return errors;
    // Write what was validated: unknown keys dropped, defaults made explicit.
    // Parsed twice because the directory transform appends derived keys; the
    // second pass puts them in schema order, so load → save is byte-stable.
    const parsed = configSchema.parse(configSchema.parse(config));
    await writeFileAtomic(this.filePath, `${JSON.stringify(parsed, null, 2)}\n`, 0o600);
    return null;
  }

  private async moveAside(): Promise<string> {
    const stamp = new Date().toISOString().replace(/[:.]/g, '-');
    for (let n = 0; ; n++) {
      const target = `${this.filePath}.corrupt-${stamp}${n === 0 ? '' : `-${n}`}`;
      try {
        // link + unlink instead of rename: link fails if the target exists, so nothing is overwritten.
        await fs.link(this.filePath, target);
        await fs.unlink(this.filePath);
        return target;
      } catch (e) {
        const code = (e as NodeJS.ErrnoException).code;
        if (code === 'EEXIST') continue;
        if (code === 'EPERM' || code === 'ENOTSUP' || code === 'EXDEV') {
          // File systems without hard links: rename, having checked the name is free.
          if (await exists(target)) continue;
          await fs.rename(this.filePath, target);
          return target;
        }
        throw e;
      }
    }
  }

  private exclusive<T>(task: () => Promise<T>): Promise<T> {
    const run = this.queue.then(task, task);
    this.queue = run.catch(() => undefined);
    return run;
  }
}

function validate(raw: unknown): FieldError[] {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) {
    return [{ path: '', message: 'must be a JSON object like {"version":1,"profiles":[]}' }];
  }
  const version = (raw as { version?: unknown }).version;
  if (typeof version === 'number' && version > SUPPORTED_VERSION) {
    return [{ path: 'version', message: `written by a newer Rolecall (version ${version}); this one reads version ${SUPPORTED_VERSION}` }];
  }
  const secretErrors = findSecretKeys(raw);
  const result = configSchema.safeParse(raw);
  return [...secretErrors, ...(result.success ? [] : toFieldErrors(result.error))];
}

function relativeTo(error: FieldError, prefix: string): FieldError {
  if (error.path === prefix) return { ...error, path: '' };
  if (error.path.startsWith(`${prefix}.`)) return { ...error, path: error.path.slice(prefix.length + 1) };
  return error;
}

async function exists(p: string): Promise<boolean> {
  try {
    await fs.access(p);
    return true;
  } catch {
    return false;
  }
}
