import { rmSync } from 'node:fs';
import type { TestProject } from 'vitest/node';
import { SCREENSHOT_DIR } from '../harness/browser.js';
import { startSambaAd, type SambaDescription } from '../harness/samba.js';

/*
 * Once for the whole browser suite: one Samba AD DC (it binds the machine's
 * fixed LDAP ports, so the files share it: each gives itself users and groups
 * of its own with attachSambaAd), and a clean screenshot folder.
 */
export default async function setup(project: TestProject): Promise<() => Promise<void>> {
  rmSync(SCREENSHOT_DIR, { recursive: true, force: true });
  const samba = await startSambaAd();
  project.provide('samba', samba.describe());
  return () => samba.stop();
}

declare module 'vitest' {
  export interface ProvidedContext {
    samba: SambaDescription;
  }
}
