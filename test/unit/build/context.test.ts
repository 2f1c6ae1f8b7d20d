import { createHash } from 'node:crypto';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { buffer } from 'node:stream/consumers';
import { afterEach, describe, expect, it } from 'vitest';
import { assembleContext, defaultWrapperPath } from '../../../electron/main/services/build/context';
import { generateFiles } from '../../../electron/main/services/build/dockerfile';
import { fakeAnalysis, fileRef } from './analysis';

const dirs: string[] = [];
afterEach(() => dirs.splice(0).forEach((d) => rmSync(d, { recursive: true, force: true })));

function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix));
  dirs.push(d);
  return d;
}

function project(): string {
  const root = tempDir('berth-ctx-project-');
  writeFileSync(join(root, 'model.ipynb'), '{}');
  writeFileSync(join(root, 'model.joblib'), 'weights');
  writeFileSync(join(root, 'helpers.py'), 'X = 1\n');
  mkdirSync(join(root, 'data'));
  writeFileSync(join(root, 'data', 'train.csv'), 'a,b\n1,2\n');
  writeFileSync(join(root, 'notes.txt'), 'not referenced');
  return root;
}

function listing(dir: string): Record<string, string> {
  const out: Record<string, string> = {};
  const walk = (d: string) => {
    for (const name of readdirSync(d).sort()) {
      const full = join(d, name);
      if (statSync(full).isDirectory()) walk(full);
      else out[relative(dir, full)] = createHash('sha256').update(readFileSync(full)).digest('hex') + ':' + statSync(full).mtimeMs;
    }
  };
  walk(dir);
  return out;
}

const settings = { baseImage: 'berth-base/python:{python}-bookworm' };

describe('build context', () => {
  it('holds exactly the generated files and the referenced project files, read-only for the project', async () => {
    const root = project();
    const before = listing(root);
    const analysis = fakeAnalysis({
      root,
      localModules: ['helpers.py'],
      files: { models: [fileRef('model.joblib', 'model')], data: [fileRef('data/train.csv', 'data')] },
    });
    const { dockerfile, requirements } = generateFiles(analysis, settings);
    const ctx = await assembleContext({ analysis, dockerfile, requirements, wrapperPath: defaultWrapperPath() }, tempDir('berth-ctx-tmp-'));
    try {
      expect(ctx.files).toEqual([
        '.dockerignore',
        'Dockerfile',
        'berth/berth_metadata.json',
        'berth/berth_model.py',
        'berth/berth_serve.py',
        'project/data/train.csv',
        'project/helpers.py',
        'project/model.joblib',
        'requirements.txt',
      ]);
      expect(readFileSync(join(ctx.dir, 'Dockerfile'), 'utf8')).toBe(dockerfile);
      expect(readFileSync(join(ctx.dir, 'berth/berth_model.py'), 'utf8')).toBe(analysis.module.source);
      expect(readFileSync(join(ctx.dir, 'project/model.joblib'), 'utf8')).toBe('weights');
      expect(ctx.dir.startsWith(root)).toBe(false);
    } finally {
      await ctx.dispose();
    }
    expect(existsSync(ctx.dir)).toBe(false);
    expect(listing(root)).toEqual(before);
  });

  it('gives the same hash and the same tar bytes for the same inputs, and another hash when the code changes', async () => {
    const root = project();
    const analysis = fakeAnalysis({ root });
    const { dockerfile, requirements } = generateFiles(analysis, settings);
    const input = { analysis, dockerfile, requirements, wrapperPath: defaultWrapperPath() };
    const a = await assembleContext(input, tempDir('berth-ctx-a-'));
    await new Promise((r) => setTimeout(r, 20)); // different mtimes on disk must not matter
    const b = await assembleContext(input, tempDir('berth-ctx-b-'));
    const changed = await assembleContext(
      { ...input, analysis: fakeAnalysis({ root, module: { ...analysis.module, source: 'def predict(x):\n    return x\n' } }) },
      tempDir('berth-ctx-c-'),
    );
    try {
      expect(a.hash).toMatch(/^[0-9a-f]{64}$/);
      expect(b.hash).toBe(a.hash);
      const [ta, tb] = await Promise.all([buffer(a.tar()), buffer(b.tar())]);
      expect(ta.length).toBeGreaterThan(1024);
      expect(tb.equals(ta)).toBe(true);
      expect(changed.hash).not.toBe(a.hash);
    } finally {
      await Promise.all([a.dispose(), b.dispose(), changed.dispose()]);
    }
  });

  it('says which file went missing since the analysis', async () => {
    const root = project();
    const analysis = fakeAnalysis({ root, files: { models: [fileRef('model.joblib', 'model')], data: [] } });
    rmSync(join(root, 'model.joblib'));
    const { dockerfile, requirements } = generateFiles(analysis, settings);
    const tmp = tempDir('berth-ctx-missing-');
    const error = await assembleContext({ analysis, dockerfile, requirements, wrapperPath: defaultWrapperPath() }, tmp).catch((e) => e);
    expect(error.kind).toBe('ProjectInvalid');
    expect(error.message).toMatch(/^model\.joblib disappeared from the project/);
    expect(readdirSync(tmp)).toEqual([]); // the half-built context was removed
  });
});
