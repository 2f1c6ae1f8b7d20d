import { afterEach, describe, expect, it } from 'vitest';
import { createBuildService } from '../../../electron/main/services/build/service';
import { openDatabase, type Db } from '../../../electron/main/services/store/database';
import { calls, streams } from '../../../shared/contract';
import { BuildEvent } from '../../../shared/build';
import type { ProjectAnalysis } from '../../../shared/project';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { ProjectFile } from '../../../shared/project-file';
import { fakeAnalysis } from './analysis';

const dbs: Db[] = [];
afterEach(() => dbs.splice(0).forEach((db) => db.close()));

function service(analysis: ProjectAnalysis) {
  const db = openDatabase(':memory:');
  dbs.push(db);
  const docker = () => {
    throw new Error('no Docker in unit tests');
  };
  return createBuildService({
    db,
    analyze: async () => analysis,
    settings: () => ({ baseImage: 'python:{python}-slim', dockerSocket: '/nonexistent.sock' }),
    docker,
  });
}

describe('build.prepare', () => {
  it('returns the analysis, both generated files and what blocks the build', async () => {
    const blocked = fakeAnalysis({
      findings: [
        { code: 'missing-file', severity: 'error', message: 'model.joblib is missing' },
        { code: 'sample-missing', severity: 'warning', message: 'no sample' },
      ],
    });
    const prepared = await service(blocked).prepare('/projects/iris');
    expect(prepared.baseImage).toBe('python:3.11-slim');
    expect(prepared.dockerfile.generated).toContain('FROM python:3.11-slim');
    expect(prepared.requirements.generated).toContain('scikit-learn==1.2.1');
    expect(prepared.blocking.map((f) => f.code)).toEqual(['missing-file']);
  });

  it('without a function to serve, explains instead of generating, and keeps nothing', async () => {
    const svc = service(fakeAnalysis({ entrypoint: null }));
    const prepared = await svc.prepare('/projects/iris');
    expect(prepared.dockerfile.generated).toMatch(/^# Berth cannot generate this file yet: .*def predict/);
    await expect(svc.saveEdits('/projects/iris', { dockerfile: 'FROM x\n' })).rejects.toThrow(/has not generated a Dockerfile/);
  });

  it('refuses to run a build with error findings before touching Docker', async () => {
    const svc = service(fakeAnalysis({ findings: [{ code: 'syntax-error', severity: 'error', message: 'cell 3 line 2: invalid syntax', location: { file: 'model.ipynb', cell: 2, line: 2 } }] }));
    const events: BuildEvent[] = [];
    const error = await svc.run({ path: '/projects/iris' }, (e) => events.push(e), new AbortController().signal).catch((e) => e);
    expect(error.kind).toBe('ProjectInvalid');
    expect(error.message).toBe('Berth cannot build iris until this problem is fixed:\n- model.ipynb cell 3: cell 3 line 2: invalid syntax');
    expect(events.filter((e) => e.type === 'phase')).toEqual([{ type: 'phase', phase: 'analyze' }]);
  });
});

describe('the reviewed files in the project (.berth/)', () => {
  const project = () => mkdtempSync(join(tmpdir(), 'berth-reviewed-'));
  const reviewed = (root: string, name: string) => readFileSync(join(root, '.berth', name), 'utf8');

  it('saving writes both files into the project, resetting writes the generated ones', async () => {
    const root = project();
    const svc = service(fakeAnalysis({ root }));
    const prepared = await svc.prepare(root);
    expect(existsSync(join(root, '.berth'))).toBe(false);
    await svc.saveEdits(root, { dockerfile: `${prepared.dockerfile.generated}# reviewed\n` });
    expect(reviewed(root, 'Dockerfile')).toBe(`${prepared.dockerfile.generated}# reviewed\n`);
    expect(reviewed(root, 'requirements.txt')).toBe(prepared.requirements.generated);
    await svc.resetEdits(root);
    expect(reviewed(root, 'Dockerfile')).toBe(prepared.dockerfile.generated);
  });

  it('a project whose files differ from this data folder wins: they become the edits, on a fresh data folder too', async () => {
    const root = project();
    const generated = (await service(fakeAnalysis({ root })).prepare(root)).dockerfile.generated;
    mkdirSync(join(root, '.berth'));
    writeFileSync(join(root, '.berth', 'Dockerfile'), `${generated}RUN echo teammate\n`);
    const prepared = await service(fakeAnalysis({ root })).prepare(root);
    expect(prepared.dockerfile).toMatchObject({ edited: `${generated}RUN echo teammate\n`, effective: `${generated}RUN echo teammate\n` });
    expect(prepared.requirements.edited).toBeNull();
  });

  it('a berth.toml base image replaces the setting', async () => {
    const root = project();
    const projectFile = ProjectFile.parse({ model: 'iris', base_image: 'berth-base/python:{python}-bookworm', group: { name: 'prod', servers: [{ name: 's1', host: 'h', host_key: `SHA256:${'A'.repeat(43)}` }] } });
    const prepared = await service(fakeAnalysis({ root, projectFile })).prepare(root);
    expect(prepared.baseImage).toBe('berth-base/python:3.11-bookworm');
  });
});

describe('contract entries', () => {
  it('build.run defaults to a smoke test with a 60 s wait and rejects unknown keys', () => {
    expect(streams['build.run'].input.parse({ path: '/p' })).toEqual({ path: '/p', smoke: true, smokeTimeoutMs: 60_000 });
    expect(streams['build.run'].input.safeParse({ path: '/p', force: true }).success).toBe(false);
    expect(streams['build.run'].input.safeParse({ path: '/p', smokeTimeoutMs: 10 }).success).toBe(false);
  });

  it('build edits and listing validate their input', () => {
    expect(calls['build.saveEdits'].input.safeParse({ path: '/p', dockerfile: '' }).success).toBe(false);
    expect(calls['build.resetEdits'].input.parse({ path: '/p', files: ['requirements'] })).toEqual({ path: '/p', files: ['requirements'] });
    expect(calls['build.resetEdits'].input.safeParse({ path: '/p', files: ['Makefile'] }).success).toBe(false);
    expect(calls['build.list'].input.parse({})).toEqual({ limit: 50 });
    expect(calls['build.prepare'].input.safeParse({ path: '' }).success).toBe(false);
  });

  it('build events validate against their schema', () => {
    expect(BuildEvent.safeParse({ type: 'progress', step: 2, total: 21, instruction: 'WORKDIR /app' }).success).toBe(true);
    expect(BuildEvent.safeParse({ type: 'smoke', result: { status: 'skipped', reason: 'no sample' } }).success).toBe(true);
    expect(BuildEvent.safeParse({ type: 'log', line: 'x', source: 'elsewhere' }).success).toBe(false);
  });
});
