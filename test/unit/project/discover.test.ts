import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { isLfsPointer, scanProject, slugify } from '../../../electron/main/services/project/discover';
import { buildModule } from '../../../electron/main/services/project/module';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-scan-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));
const write = (rel: string, text: string) => {
  mkdirSync(path.dirname(path.join(dir, rel)), { recursive: true });
  writeFileSync(path.join(dir, rel), text);
};

describe('scanProject', () => {
  it('finds notebooks and skips checkpoints, environments, node_modules, .git and hidden folders', async () => {
    write('model.ipynb', '{}');
    write('sub/explore.ipynb', '{}');
    for (const skipped of ['.ipynb_checkpoints/model-checkpoint.ipynb', '.venv/x.ipynb', 'venv/x.ipynb', 'node_modules/x.ipynb', '.git/x.ipynb', '.hidden/x.ipynb']) {
      write(skipped, '{}');
    }
    write('myenv/pyvenv.cfg', 'home = /usr/bin');
    write('myenv/lib/y.ipynb', '{}');
    write('big.bin', 'x'.repeat(5000));
    const scan = await scanProject(dir);
    expect(scan.notebooks).toEqual(['model.ipynb', 'sub/explore.ipynb']);
    expect(scan.smallFiles).toContain('model.ipynb');
    expect(scan.smallFiles).not.toContain('big.bin');
  });

  it('recognises Git LFS pointers', async () => {
    write('w.bin', 'version https://git-lfs.github.com/spec/v1\noid sha256:abc\nsize 10\n');
    write('v.bin', 'version 2');
    expect(await isLfsPointer(path.join(dir, 'w.bin'))).toBe(true);
    expect(await isLfsPointer(path.join(dir, 'v.bin'))).toBe(false);
    expect(await isLfsPointer(path.join(dir, 'none.bin'))).toBe(false);
  });
});

describe('slugify', () => {
  it('makes [a-z0-9-] names', () => {
    expect(slugify('My Iris Model (v2)')).toBe('my-iris-model-v2');
    expect(slugify('Ünïcödé__stuff')).toBe('unicode-stuff');
    expect(slugify('???')).toBe('project');
  });
});

describe('buildModule', () => {
  it('concatenates included cells and maps module lines back to cells', () => {
    const m = buildModule('nb.ipynb', [
      { cell: 0, code: 'import a\nx = 1\n\n', exclude: null },
      { cell: 1, code: 'train()', exclude: 'training' },
      { cell: 3, code: 'def predict(v):\n    return v', exclude: null },
    ]);
    const lines = m.source.split('\n');
    expect(m.cellMap).toEqual([
      { cell: 0, startLine: 5, endLine: 6 },
      { cell: 3, startLine: 9, endLine: 10 },
    ]);
    expect(lines[4]).toBe('import a');
    expect(lines[8]).toBe('def predict(v):');
    expect(lines[7]).toBe('# --- cell 4 ---');
    expect(m.excludedCells).toEqual([{ cell: 1, reason: 'training' }]);
  });
});
