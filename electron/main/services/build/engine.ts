import Docker from 'dockerode';
import { BerthError } from '../../../../shared/errors';
import type { EngineInfo } from '../../../../shared/types';

/** Wraps a dockerode client for the local engine; every failure to reach it becomes one actionable DockerUnavailable. */
export function createEngineService(socketPath: () => string, timeoutMs = 5000) {
  let cached: { socket: string; docker: Docker } | undefined;

  function client(): Docker {
    const socket = socketPath();
    // No client-wide timeout: builds, `docker save` and log streams run for minutes. Quick checks bound themselves.
    if (cached?.socket !== socket) cached = { socket, docker: new Docker({ socketPath: socket }) };
    return cached.docker;
  }

  function unreachable(err: unknown): BerthError {
    const reason = err instanceof Error ? err.message : String(err);
    const socket = socketPath();
    const hint = /EACCES/.test(reason)
      ? `permission denied: add your user to the "docker" group or fix the socket's permissions`
      : 'is dockerd running?';
    return new BerthError('DockerUnavailable', `Docker engine not reachable at ${socket}: ${hint}`, { reason });
  }

  async function info(): Promise<EngineInfo> {
    const docker = client();
    try {
      const [version, system] = await withTimeout(Promise.all([docker.version(), docker.info()]), timeoutMs);
      return {
        socket: socketPath(),
        version: version.Version,
        apiVersion: version.ApiVersion,
        os: version.Os,
        arch: version.Arch,
        cpus: system.NCPU,
        memoryBytes: system.MemTotal,
      };
    } catch (err) {
      throw unreachable(err);
    }
  }

  return { info, client };
}

function withTimeout<T>(promise: Promise<T>, ms: number): Promise<T> {
  let timer: NodeJS.Timeout | undefined;
  const timeout = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(new Error(`no answer within ${ms} ms`)), ms);
  });
  return Promise.race([promise, timeout]).finally(() => clearTimeout(timer));
}
export type EngineService = ReturnType<typeof createEngineService>;
