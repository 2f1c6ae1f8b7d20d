import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { electronBinaryProblem, missingBinaryMessage } from '../../../scripts/electron-binary.mjs';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

/** An electron package folder as npm leaves it: path.txt written by install.js once the binary is in dist/. */
function electronPackage(files: Record<string, string>): string {
  const dir = mkdtempSync(path.join(tmpdir(), 'berth-electron-'));
  dirs.push(dir);
  for (const [rel, text] of Object.entries(files)) {
    mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
    writeFileSync(path.join(dir, rel), text);
  }
  return dir;
}

describe("npm start's check for Electron's binary", () => {
  it('passes when path.txt names a binary in dist/', () => {
    expect(electronBinaryProblem(electronPackage({ 'path.txt': 'electron', 'dist/electron': '' }))).toBeNull();
  });

  it('reports a package installed without its download (no path.txt)', () => {
    const dir = electronPackage({ 'package.json': '{}' });
    expect(electronBinaryProblem(dir)).toContain(path.join(dir, 'path.txt'));
  });

  it('reports a path.txt whose binary is not there (a download that failed half way)', () => {
    const dir = electronPackage({ 'path.txt': 'electron\n' });
    expect(electronBinaryProblem(dir)).toContain(path.join(dir, 'dist', 'electron'));
  });

  it('says why and what to run instead', () => {
    const message = missingBinaryMessage("Electron's binary is missing.");
    expect(message).toContain('ELECTRON_SKIP_BINARY_DOWNLOAD=1');
    expect(message).toContain('npm run web');
    expect(message).toContain('npm rebuild electron');
  });
});
