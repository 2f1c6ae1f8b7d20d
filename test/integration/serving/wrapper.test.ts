import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../e2e/harness';

describe('serving wrapper (resources/serving, Python unittest against real subprocesses)', () => {
  it('passes its own Python test suite, numpy and pandas cases included', () => {
    const run = spawnSync('/usr/bin/python3', ['-m', 'unittest', 'discover', '-s', 'resources/serving', '-p', 'test_*.py', '-v'], {
      cwd: repoRoot,
      encoding: 'utf8',
      timeout: 120_000,
    });
    const output = `${run.stdout}\n${run.stderr}`;
    expect(output, output).toMatch(/\nOK( \(skipped=0\))?\s*$/);
    expect(output).not.toMatch(/skipped '/);
    expect(run.status).toBe(0);
  });
});
