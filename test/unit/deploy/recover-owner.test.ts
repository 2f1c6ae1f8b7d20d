import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createOrchestrator, type Journal, type OrchestratorDeps } from '../../../electron/main/services/deploy/orchestrator';
import { createDeployStore } from '../../../electron/main/services/deploy/store';
import { openDatabase, type Db } from '../../../electron/main/services/store/database';
import { RecordingShell } from '../support/recording-shell';

/**
 * Two processes on one data folder: a Berth (the CLI, say) is deploying while the app starts on the same folder. The
 * app's recover() must leave that live operation alone, and undo it only once its process is gone.
 */

const repoRoot = resolve(__dirname, '../../..');
const journal: Journal = {
  phase: 'start',
  group: 'prod',
  model: 'iris',
  version: 2,
  servers: [1],
  started: { 1: [{ name: 'berth-iris-v2-r1', port: 9101 }] } as unknown as Journal['started'],
  lockToken: 'lock-token-of-the-other-berth',
};

/** A data folder with iris v2 pending, as a deploy leaves it before its switch. */
function dataFolder(): { file: string; db: Db; modelId: number; versionId: number } {
  const file = join(mkdtempSync(join(tmpdir(), 'berth-owner-')), 'berth.db');
  const db = openDatabase(file);
  const modelId = Number(db.prepare("INSERT INTO models (name, created_at, group_name) VALUES ('iris', 'now', 'prod')").run().lastInsertRowid);
  const versionId = Number(
    db.prepare("INSERT INTO versions (model_id, number, image_ref, image_id, created_by, created_at, state) VALUES (?, 2, 'berth/iris:b2', 'sha256:2', 'ci', 'now', 'pending')").run(modelId).lastInsertRowid,
  );
  return { file, db, modelId, versionId };
}

const children: ChildProcess[] = [];
afterEach(() => {
  for (const child of children.splice(0)) child.kill('SIGKILL');
});

/**
 * Another Berth process on the folder: it records a running deploy through its own deploy store, then keeps running
 * (as a deploy waiting for /readyz would). Resolves with the process and the operation's id.
 */
async function otherBerthDeploying(file: string, modelId: number, versionId: number): Promise<{ child: ChildProcess; opId: number }> {
  const script = `
    const { openDatabase } = require(${JSON.stringify(join(repoRoot, 'electron/main/services/store/database.ts'))});
    const { createDeployStore } = require(${JSON.stringify(join(repoRoot, 'electron/main/services/deploy/store.ts'))});
    const [file, modelId, versionId, journal] = process.argv.slice(1);
    const store = createDeployStore(openDatabase(file));
    const op = store.startOperation({ kind: 'deploy', modelId: Number(modelId), versionId: Number(versionId), groupId: null, actor: 'ci', journal: JSON.parse(journal) });
    console.log(op.id);
    setInterval(() => {}, 1000);
  `;
  const child = spawn(process.execPath, ['--require', 'tsx/cjs', '-e', script, file, String(modelId), String(versionId), JSON.stringify(journal)], {
    cwd: repoRoot,
    stdio: ['ignore', 'pipe', 'inherit'],
  });
  children.push(child);
  const line = await new Promise<string>((done, fail) => {
    createInterface({ input: child.stdout! }).once('line', done);
    child.once('exit', (code) => fail(new Error(`the other Berth exited with ${code}`)));
  });
  return { child, opId: Number(line) };
}

/** The orchestrator of the Berth that starts now, with fakes for the servers and their group state. */
function startingBerth(db: Db) {
  const shell = new RecordingShell();
  const groups = {
    refresh: vi.fn(async () => ({})),
    repair: vi.fn(async () => ({})),
    change: vi.fn(async () => ({ result: undefined })),
    releaseModelLock: vi.fn(async () => {}),
  };
  const deps = {
    store: createDeployStore(db),
    registry: { get: () => ({ id: 1, name: 'tb1', uid: 'uid-tb1' }), group: () => ({ id: 1, name: 'prod', serverIds: [1] }) },
    connection: async () => shell,
    images: {},
    gateway: {},
    platformOf: async () => 'linux/amd64',
    groups,
    actor: () => 'app',
    audit: vi.fn(),
  } as unknown as OrchestratorDeps;
  return { orchestrator: createOrchestrator(deps), shell, groups, store: deps.store };
}

describe('recover() with another live Berth on the data folder', () => {
  it("leaves the operation of a live process alone, and undoes it once that process is gone", async () => {
    const { file, db, modelId, versionId } = dataFolder();
    const { child, opId } = await otherBerthDeploying(file, modelId, versionId);
    const app = startingBerth(db);
    const logs: string[] = [];

    const whileAlive = await app.orchestrator.recover((event) => event.type === 'log' && logs.push(event.message));
    expect(whileAlive.undone).toEqual([]);
    expect(whileAlive).toMatchObject({ finished: [], running: [{ id: opId, pid: child.pid }] });
    expect(logs.join('\n')).toContain(`running in pid ${child.pid}`);
    expect(app.store.runningOperations().map((op) => op.id)).toEqual([opId]);
    expect(app.shell.recorded).toEqual([]);
    expect(app.groups.change).not.toHaveBeenCalled();
    expect(app.groups.releaseModelLock).not.toHaveBeenCalled();

    const exited = new Promise((done) => child.once('exit', done));
    child.kill('SIGKILL');
    await exited;

    const afterExit = await app.orchestrator.recover();
    expect(afterExit).toMatchObject({ finished: [], undone: [opId], running: [] });
    expect(app.store.runningOperations()).toEqual([]);
    expect(app.shell.commands.join('\n')).toContain('berth-iris-v2-r1');
    expect(app.groups.change).toHaveBeenCalledWith('prod', expect.stringContaining('undo interrupted deploy of iris v2'), expect.any(Function));
    expect(app.groups.releaseModelLock).toHaveBeenCalledWith([1], 'iris', 'lock-token-of-the-other-berth');
    db.close();
  }, 60_000);

  it('is not fooled by a reused pid: a live process that started at another time is not the owner', async () => {
    const { file, db, modelId, versionId } = dataFolder();
    const { opId } = await otherBerthDeploying(file, modelId, versionId);
    // As if the owner had died and the system had given its pid to the process now running (this test's own).
    db.prepare("UPDATE operations SET owner = json_set(owner, '$.pid', ?) WHERE id = ?").run(process.pid, opId);
    const app = startingBerth(db);
    expect(await app.orchestrator.recover()).toMatchObject({ undone: [opId], running: [] });
    db.close();
  }, 60_000);
});
