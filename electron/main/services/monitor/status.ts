import { setTimeout as sleep } from 'node:timers/promises';
import { BerthError } from '../../../../shared/errors';
import type { StatusSnapshot } from '../../../../shared/types';
import type { EngineService } from '../build/engine';

export interface ServerCounts {
  up: number;
  total: number;
}

/** Polls what the status bar shows and emits a snapshot whenever it changes. */
export function createStatusService(engine: EngineService, serverCounts: () => Promise<ServerCounts>) {
  async function snapshot(): Promise<StatusSnapshot> {
    const [engineState, servers] = await Promise.all([
      engine.info().then(
        (info) => ({ reachable: true as const, version: info.version }),
        (err) => ({ reachable: false as const, message: BerthError.from(err).message }),
      ),
      serverCounts(),
    ]);
    return { engine: engineState, servers, checkedAt: new Date().toISOString() };
  }

  async function watch(intervalMs: number, emit: (s: StatusSnapshot) => void, signal: AbortSignal): Promise<void> {
    let last = '';
    while (!signal.aborted) {
      const current = await snapshot();
      const key = JSON.stringify({ ...current, checkedAt: undefined });
      if (key !== last) emit(current);
      last = key;
      await sleep(intervalMs, undefined, { signal }).catch(() => undefined);
    }
  }

  return { snapshot, watch };
}
