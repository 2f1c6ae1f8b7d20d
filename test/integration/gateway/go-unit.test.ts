import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { repoRoot } from '../../e2e/harness';

describe('gateway Go tests (resources/gateway, go vet + go test with httptest upstreams)', () => {
  it('vets clean and passes', () => {
    const cwd = join(repoRoot, 'resources/gateway');
    const env = { ...process.env, GOFLAGS: '-mod=mod', GOCACHE: process.env.GOCACHE ?? '/tmp/berth-go-cache' };
    const vet = spawnSync('go', ['vet', './...'], { cwd, env, encoding: 'utf8', timeout: 300_000 });
    expect(vet.status, `${vet.stdout}${vet.stderr}`).toBe(0);
    const test = spawnSync('go', ['test', '-count=1', './...'], { cwd, env, encoding: 'utf8', timeout: 300_000 });
    expect(test.stdout + test.stderr, `${test.stdout}${test.stderr}`).toMatch(/^ok\s+berth\/gateway/m);
    expect(test.status).toBe(0);
  });
});
