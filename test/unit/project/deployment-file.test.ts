import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { PreparedBuild } from '../../../shared/build';
import { BerthError } from '../../../shared/errors';
import type { GroupView, ServerView } from '../../../shared/servers';
import { defaultSettings } from '../../../shared/types';
import { createDeploymentFiles } from '../../../electron/main/services/project/deployment-file';
import { parseProjectFile } from '../../../electron/main/services/project/project-file';

const FP = `SHA256:${'A'.repeat(43)}`;
const group = (id: number, name: string, serverIds: number[]): GroupView => ({ id, name, replicas: 2, serverIds, revision: null, changedBy: null, changedAt: null, refreshedAt: null, platform: null, platforms: [], tls: 'https', listen: 'all', authority: null });
const server = (id: number, name: string): ServerView => ({ id, name, host: `10.0.0.${id}`, port: 22, username: 'root', hostKeyFingerprint: FP }) as ServerView;

/** What describeDeployment reads of build.prepare. */
const prepared = {
  analysis: { name: 'iris', entrypoint: 'predict', notebook: 'model.ipynb', notebooks: [{}], projectFile: null },
  dockerfile: { effective: 'FROM python:3.11-slim\n' },
  requirements: { effective: '' },
} as unknown as PreparedBuild;

const hand = `model = "iris"
base_image = "registry.local/python:3.11"
entrypoint = "score"
memory_mb = 512

[group]
name = "prod"

[[group.servers]]
name = "a"
host = "10.0.0.1"
host_key = "${FP}"
`;

describe('the deploy panel’s berth.toml', () => {
  let dir: string;
  let prepares: number;
  const file = () => path.join(dir, 'berth.toml');
  const files = () =>
    createDeploymentFiles({
      groups: () => [group(1, 'prod', [1]), group(2, 'staging', [2])],
      servers: () => [server(1, 'a'), server(2, 'b')],
      settings: () => ({ ...defaultSettings, baseImage: 'python:{python}-slim' }),
      prepare: async () => (prepares++, prepared),
    });

  beforeEach(() => {
    dir = fs.mkdtempSync(path.join(os.tmpdir(), 'berth-deployment-file-'));
    prepares = 0;
  });
  afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

  it('previews a new berth.toml from this Berth’s group without writing it', async () => {
    const saved = await files().save({ path: dir, group: 'prod', memoryMb: 768, write: false });
    expect(saved).toMatchObject({ file: file(), before: null, written: false });
    expect(fs.existsSync(file())).toBe(false);
    expect(parseProjectFile(saved.after)).toMatchObject({ model: 'iris', entrypoint: 'predict', base_image: 'python:{python}-slim', memory_mb: 768, replicas: 2, group: { name: 'prod', servers: [{ name: 'a', host: '10.0.0.1', host_key: FP }] } });
    expect(saved.diff).toContain('+memory_mb = 768');
    expect(await files().read(dir)).toEqual({ file: file(), projectFile: null });
  });

  it('writes the panel’s values into the existing file, keeping its other fields', async () => {
    fs.writeFileSync(file(), hand);
    const saved = await files().save({ path: dir, group: 'prod', memoryMb: 2048, cpus: 2, readinessTimeoutS: 60, write: true });
    expect(saved.written).toBe(true);
    expect(saved.before).toBe(hand);
    expect(saved.diff).toMatch(/^-memory_mb = 512$/m);
    expect(saved.diff).toMatch(/^\+memory_mb = 2048$/m);
    expect(fs.readFileSync(file(), 'utf8')).toBe(saved.after);
    expect((await files().read(dir)).projectFile).toMatchObject({ model: 'iris', base_image: 'registry.local/python:3.11', entrypoint: 'score', memory_mb: 2048, cpus: 2, readiness_timeout_s: 60, group: { name: 'prod' } });
    // The same group: nothing is analysed, the file's servers stay as they are.
    expect(prepares).toBe(0);
    expect(fs.readdirSync(dir)).toEqual(['berth.toml']);
  });

  it('writes nothing when the values are already the file’s', async () => {
    fs.writeFileSync(file(), hand);
    const first = await files().save({ path: dir, group: 'prod', write: true });
    const again = await files().save({ path: dir, group: 'prod', memoryMb: 512, write: true });
    expect(first.written).toBe(true);
    expect(again).toMatchObject({ written: false, before: first.after, after: first.after });
  });

  it('moves the file to another group with that group’s servers, keeping the rest', async () => {
    fs.writeFileSync(file(), hand);
    const saved = await files().save({ path: dir, group: 'staging', write: false });
    expect(parseProjectFile(saved.after)).toMatchObject({ entrypoint: 'score', memory_mb: 512, group: { name: 'staging', servers: [{ name: 'b', host: '10.0.0.2' }] } });
    expect(fs.readFileSync(file(), 'utf8')).toBe(hand);
  });

  it('refuses an invalid berth.toml with its issues, and leaves it as it is', async () => {
    const broken = hand.replace('memory_mb = 512', 'memory_mb = "lots"');
    fs.writeFileSync(file(), broken);
    for (const attempt of [files().save({ path: dir, group: 'prod', memoryMb: 1024, write: true }), files().read(dir)]) {
      const error = (await attempt.then(() => null, (e) => e)) as BerthError;
      expect(error).toBeInstanceOf(BerthError);
      expect(error.kind).toBe('ProjectFileInvalid');
      expect((error.detail as { issues: unknown[] }).issues).toEqual([{ line: 4, field: 'memory_mb', message: expect.stringContaining('expected number') }]);
    }
    expect(fs.readFileSync(file(), 'utf8')).toBe(broken);
  });

  it('names a group this Berth does not have', async () => {
    await expect(files().save({ path: dir, group: 'nope', write: false })).rejects.toMatchObject({ kind: 'NotFound' });
  });
});
