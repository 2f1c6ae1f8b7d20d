import type { Berth } from '../electron/main/app';
import type { Bed } from '../test/integration/bed';

/** What the benchmark sections share: the bed, one Berth on a fresh data folder, and what earlier sections deployed. */
export interface BenchContext {
  repoRoot: string;
  bed: Bed;
  /** The bed's name (netns prefix): server N's netns is `${bedName}${N}`. */
  bedName: string;
  berth: Berth;
  home: string;
  serverIds: number[];
  groupId: number;
  /** The sklearn fixture's model name, once P1/P2 deployed it (public). */
  sklearnModel?: string;
  /** Undo steps run at the end, whatever happened. */
  cleanup: Array<() => Promise<void>>;
}
