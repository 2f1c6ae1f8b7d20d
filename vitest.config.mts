import { defineConfig } from 'vitest/config';

// Three suites run by `npm test`, e2e after the other two (a fourth, `faults`, by `npm run test:faults`): fast unit tests, integration tests against a real Docker engine,
// real sshd test hosts and real SQLite files, and browser e2e tests in Debian's Chromium.
// Deploys in tests run no server agent (BERTH_SERVER_AGENT=off): suites share bed servers, and one test's agents would
// heal, stand in for or alert on another's. e2e runs after integration: both rewrite the team block of the servers'
// root authorized_keys, each from its own Berth folder, and must not interleave. test/faults/agent.test.ts turns it on for itself.
const env = { BERTH_SERVER_AGENT: 'off' };

export default defineConfig({
  test: {
    projects: [
      { test: { name: 'unit', environment: 'node', env, include: ['test/unit/**/*.test.ts'] } },
      {
        test: {
          name: 'integration',
          environment: 'node', env,
          include: ['test/integration/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
      {
        test: {
          name: 'e2e',
          environment: 'node', env,
          include: ['test/e2e/**/*.test.ts'],
          testTimeout: 180_000,
          hookTimeout: 300_000,
          fileParallelism: false,
        },
      },
      {
        // Fault injection (crashed servers, cut links, full disks, Berth killed mid-deploy) on a bed of its own:
        // `npm run test:faults` brings it up and down; not part of `npm test`.
        test: {
          name: 'faults',
          environment: 'node', env,
          include: ['test/faults/**/*.test.ts'],
          testTimeout: 600_000,
          hookTimeout: 900_000,
          fileParallelism: false,
        },
      },
    ],
  },
});
