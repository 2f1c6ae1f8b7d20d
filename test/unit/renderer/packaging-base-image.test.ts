import { describe, expect, it, vi } from 'vitest';
import type { Settings } from '../../../shared/types';

/** build.prepare answers with the Settings' base image, as the build service does. */
const backend = vi.hoisted(() => ({ baseImage: 'python:{python}-slim', prepares: 0 }));
vi.mock('../../../renderer/src/api/client', () => ({
  call: vi.fn(async (name: string) => {
    if (name !== 'build.prepare') throw new Error(`unexpected call ${name}`);
    backend.prepares++;
    const dockerfile = { effective: `FROM ${backend.baseImage}\n` };
    return { baseImage: backend.baseImage, dockerfile, requirements: { effective: '' }, analysis: {}, blocking: [] };
  }),
  subscribe: vi.fn(),
}));

// The store keeps the user's choices in localStorage; a Map stands in for the browser's.
const kept = new Map<string, string>();
vi.stubGlobal('localStorage', { getItem: (k: string) => kept.get(k) ?? null, setItem: (k: string, v: string) => void kept.set(k, v), removeItem: (k: string) => void kept.delete(k) });

const { usePackaging } = await import('../../../renderer/src/features/projects/packaging-store');
const { useSettings } = await import('../../../renderer/src/features/settings/store');
const settings = { baseImage: 'python:{python}-slim', theme: 'system' } as Settings;

describe('the Dockerfile after a base image change in Settings', () => {
  it('is generated again for the open project, without "Analyse again"', async () => {
    useSettings.setState({ settings });
    await usePackaging.getState().load('/project');
    expect(usePackaging.getState().prepared?.dockerfile.effective).toBe('FROM python:{python}-slim\n');

    backend.baseImage = 'berth-base/python:3.11-bookworm';
    useSettings.setState({ settings: { ...settings, baseImage: backend.baseImage } });
    await vi.waitFor(() => expect(usePackaging.getState().prepared?.dockerfile.effective).toBe('FROM berth-base/python:3.11-bookworm\n'));
    expect(backend.prepares).toBe(2);
  });

  it('is left alone when another setting changes', async () => {
    const before = backend.prepares;
    useSettings.setState({ settings: { ...useSettings.getState().settings!, theme: 'dark' } });
    await new Promise((resolve) => setTimeout(resolve, 20));
    expect(backend.prepares).toBe(before);
  });
});
