/**
 * `npm install` on the Node version the README names prints no EBADENGINE warning (issue 16, item 5): every Node
 * version package.json's `engines` admits is one every locked package declares it runs on, and the README names
 * the lowest of them.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import semver from 'semver';
import { describe, expect, it } from 'vitest';

const root = join(__dirname, '../../..');
const engines: string = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).engines.node;
const lock = JSON.parse(readFileSync(join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { engines?: unknown }> };
const readme = readFileSync(join(root, 'README.md'), 'utf8');

/** Node releases to try: every minor of every major a dependency might name (ranges speak of x.y.0 bounds). */
const candidates = Array.from({ length: 14 }, (_, i) => 18 + i).flatMap((major) => Array.from({ length: 25 }, (_, minor) => `${major}.${minor}.0`));

function nodeRange(pkg: { engines?: unknown }): string | null {
  const e = pkg.engines;
  return e && typeof e === 'object' && typeof (e as { node?: unknown }).node === 'string' ? (e as { node: string }).node : null;
}

describe('the Node version Berth asks for', () => {
  it('every version engines admits satisfies every locked package', () => {
    const admitted = candidates.filter((v) => semver.satisfies(v, engines));
    expect(admitted.length).toBeGreaterThan(0);
    const conflicts: string[] = [];
    for (const [name, pkg] of Object.entries(lock.packages)) {
      const range = nodeRange(pkg);
      if (!name || !range) continue;
      const bad = admitted.filter((v) => !semver.satisfies(v, range));
      if (bad.length) conflicts.push(`${name} wants node ${range}, engines admits ${bad[0]}`);
    }
    expect(conflicts).toEqual([]);
  });

  it('the README names the lowest version engines admits', () => {
    const named = /Berth needs Node (\d+\.\d+)/.exec(readme)?.[1];
    expect(named).toBeDefined();
    expect(semver.minVersion(engines)?.version).toBe(`${named}.0`);
  });
});
