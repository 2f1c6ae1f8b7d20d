import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot, screenshotDirFor } from '../../e2e/harness';

describe('e2e screenshots', () => {
  it('go into the git-ignored test-output/screenshots/ when tests run', () => {
    expect(screenshotDirFor({})).toBe(join(repoRoot, 'test-output/screenshots'));
    expect(readFileSync(join(repoRoot, '.gitignore'), 'utf8').split('\n')).toContain('test-output/');
  });

  it('go into docs/screenshots/ only through `npm run screenshots`', () => {
    const scripts = JSON.parse(readFileSync(join(repoRoot, 'package.json'), 'utf8')).scripts as Record<string, string>;
    expect(scripts.screenshots).toContain('scripts/screenshots.mjs');
    expect(readFileSync(join(repoRoot, 'scripts/screenshots.mjs'), 'utf8')).toContain("BERTH_SCREENSHOT_DIR: 'docs/screenshots'");
    expect(screenshotDirFor({ BERTH_SCREENSHOT_DIR: 'docs/screenshots' })).toBe(join(repoRoot, 'docs/screenshots'));
  });
});
