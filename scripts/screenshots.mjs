#!/usr/bin/env node
// Refreshes the README's screenshots: runs the e2e tests (they need the test bed, as `npm test` does) with the
// harness writing into docs/screenshots/ instead of the git-ignored test-output/screenshots/.
// `npm run screenshots -- test/e2e/logs.test.ts` refreshes the pictures of some files only.
import { spawnSync } from 'node:child_process';

const run = spawnSync('npx', ['vitest', 'run', '--project', 'e2e', ...process.argv.slice(2)], {
  stdio: 'inherit',
  env: { ...process.env, BERTH_SCREENSHOT_DIR: 'docs/screenshots' },
});
process.exit(run.status ?? 1);
