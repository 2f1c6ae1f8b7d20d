import { describe, expect, it, vi } from 'vitest';
import type { BuildRecord } from '../../../shared/build';

const build = (id: number, project: string, createdAt: string) =>
  ({ id, project, projectPath: `/p/${project}`, deployable: true, smoke: { status: 'passed' }, createdAt, imageTag: `berth/${project}:b${id}` }) as BuildRecord;
/** Newest first, as build.list answers: another project's build is the newest. */
const builds = [build(9, 'churn', '2026-12-06T21:00:00Z'), build(4, 'sklearn-iris', '2026-12-06T20:00:00Z'), { ...build(2, 'sklearn-iris', '2026-12-06T19:00:00Z'), deployable: false }];
const opened: string[] = [];

vi.mock('../../../renderer/src/api/client', () => ({
  call: vi.fn(async (name: string, input: { model?: string }) => {
    if (name === 'deploy.models') return ['churn', 'sklearn-iris'];
    if (name === 'build.list') return builds;
    if (name === 'groups.list') return [];
    if (name === 'deploy.model') return (opened.push(input.model!), { name: input.model, versions: [] });
    throw new Error(`unexpected call ${name}`);
  }),
  subscribe: vi.fn(),
}));

const { buildLabel, useDeployments } = await import('../../../renderer/src/features/deployments/store');

describe('the deploy panel’s build', () => {
  it('is the newest deployable build when nothing was offered', async () => {
    await useDeployments.getState().load();
    expect(useDeployments.getState()).toMatchObject({ buildId: 9, selected: 'churn' });
  });

  it('is the offered build after "Deploy…" from a smoke test, with its model, not the newest build of another model', async () => {
    useDeployments.getState().offer(4);
    await useDeployments.getState().load();
    expect(useDeployments.getState()).toMatchObject({ buildId: 4, selected: 'sklearn-iris' });
    expect(opened.at(-1)).toBe('sklearn-iris');
    // A later visit keeps the build the user had.
    await useDeployments.getState().load();
    expect(useDeployments.getState().buildId).toBe(4);
  });

  it('is listed by project, number and smoke test, not by image tag', () => {
    const label = buildLabel(builds[1]);
    expect(label).toMatch(/^sklearn-iris #4 · smoke test passed · /);
    expect(label).not.toContain('berth/');
  });
});
