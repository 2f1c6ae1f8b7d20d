import { describe, expect, it } from 'vitest';
import { createEngineService } from '../../../electron/main/services/build/engine';
import { BerthError } from '../../../shared/errors';

describe('local Docker engine check (real engine)', () => {
  it('reports version, API, OS/arch of the running engine', async () => {
    const info = await createEngineService(() => '/var/run/docker.sock').info();
    expect(info.version).toMatch(/^\d+\.\d+/);
    expect(info.apiVersion).toMatch(/^1\.\d+$/);
    expect(info.os).toBe('linux');
    expect(info.cpus).toBeGreaterThan(0);
  });

  it('says where it looked and what to do when no engine answers', async () => {
    const error = await createEngineService(() => '/tmp/no-such-docker.sock').info().catch((e) => e);
    expect(error).toBeInstanceOf(BerthError);
    expect(error.kind).toBe('DockerUnavailable');
    expect(error.message).toBe('Docker engine not reachable at /tmp/no-such-docker.sock: is dockerd running?');
  });
});
