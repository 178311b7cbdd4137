import { defineConfig } from 'vitest/config';

// Two projects: fast unit tests (no servers) and integration tests that start
// real PostgreSQL, slapd and Samba AD servers through test/harness.
export default defineConfig({
  test: {
    projects: [
      {
        test: {
          name: 'unit',
          include: ['test/unit/**/*.test.ts'],
          testTimeout: 20_000,
        },
      },
      {
        test: {
          name: 'integration',
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 120_000,
          hookTimeout: 180_000,
          // Real servers are heavy on 2 cores: one file at a time.
          fileParallelism: false,
        },
      },
      {
        test: {
          // Chromium against the web bridge, with real PostgreSQL and Samba AD; builds the renderer itself.
          name: 'e2e',
          include: ['test/e2e/**/*.test.ts'],
          // One Samba AD DC for every file (fixed ports), started here.
          globalSetup: ['test/e2e/global-setup.ts'],
          testTimeout: 240_000,
          hookTimeout: 180_000,
          fileParallelism: false,
          // After the other projects, never beside them: Samba AD needs the machine's fixed LDAP ports.
          sequence: { groupOrder: 1 },
        },
      },
    ],
  },
});
