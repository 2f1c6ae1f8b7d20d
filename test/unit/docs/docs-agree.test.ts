/**
 * What README.md and docs/ARCHITECTURE.md say of the servers, checked against the code that does it (issue 15,
 * item 6): the replicas' restart policy, the lock paths, and the warning for a group of one server.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { formatStatus, type GroupStatus } from '../../../electron/main/services/deploy/cli';
import { startReplicas, type ReplicaSpec } from '../../../electron/main/services/deploy/replicas';
import { defaultLayout, groupPaths, modelLock } from '../../../electron/main/services/remote/layout';
import { RecordingShell } from '../support/recording-shell';

const root = join(__dirname, '../../..');
const architecture = readFileSync(join(root, 'docs/ARCHITECTURE.md'), 'utf8');
const readme = readFileSync(join(root, 'README.md'), 'utf8');

const spec: ReplicaSpec = { model: 'iris', version: 3, imageRef: 'berth/iris:v3', operationId: 42, memoryMb: 512, cpus: 1 };

describe('the docs say what the code does', () => {
  it("the replicas' restart policy is the one documented, and the only one", async () => {
    const shell = new RecordingShell();
    await startReplicas(shell.connection, spec, 1);
    const run = shell.recorded.map((r) => r.command).find((c) => c.startsWith('docker run'))!;
    const policy = /--restart (\S+)/.exec(run)![1];
    const replicasLine = architecture.split('\n- **Replicas**')[1].split('\n- ')[0];
    expect([...replicasLine.matchAll(/--restart (\S+?)`/g)].map((m) => m[1])).toEqual([policy]);
  });

  it('every lock path in the docs is one the code uses', () => {
    const paths = new Set([...`${architecture}\n${readme}`.matchAll(/\/var\/lib\/berth\/[^\s`|]*lock[^\s`|]*/g)].map((m) => m[0]));
    const model = modelLock(defaultLayout, 'placeholder').dir.replace('placeholder', '<model>');
    const group = groupPaths(defaultLayout, 'placeholder').lock.replace('placeholder', '<group>');
    expect([...paths].map((p) => p.replace(/\/$/, ''))).toEqual(expect.arrayContaining([model, group]));
    for (const path of paths) expect([model, group]).toContain(path.replace(/\/$/, ''));
  });

  it('a group of one server is warned of, as the README promises', () => {
    expect(readme).toMatch(/group of one server is allowed, and shown with a "no redundancy" warning/);
    const group = (servers: number): GroupStatus => ({
      name: 'solo',
      replicas: 2,
      revision: 1,
      changedBy: null,
      changedAt: null,
      tls: 'https',
      listen: 'all',
      servers: Array.from({ length: servers }, (_, i) => ({ name: `s${i}`, host: `10.0.0.${i}`, state: 'down', error: null, login: null, gateway: { ok: true } }) as never),
      models: [],
    });
    expect(formatStatus([group(1)])).toContain('group solo has one server: no redundancy');
    expect(formatStatus([group(2)])).not.toContain('no redundancy');
    // This computer's group cannot take a second server: the warning says so instead of suggesting one.
    const local = formatStatus([{ ...group(1), name: 'local' }]);
    expect(local).toContain('group local is this computer alone: no redundancy');
    expect(local).not.toContain('berth groups set');
  });
});
