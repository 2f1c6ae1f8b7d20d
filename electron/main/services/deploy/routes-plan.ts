import type { RoutesFile } from '../../../../shared/gateway';
import type { DeployStore, Placement } from './store';

export type { RoutesFile };
export type RouteKey = RoutesFile['keys'][number];

/** Changes not yet committed to the database, applied on top of it to compute what a switch would write. */
export interface RoutesOverlay {
  modelId: number;
  /** Placements to add (a new or restarted version). */
  addPlacements?: Placement[];
  /** Version ids to drop from routing (a version being stopped). */
  removeVersions?: number[];
  /** Aliases to point elsewhere: alias → version id. */
  aliases?: Record<string, number>;
}

let lastRevision = 0;
/** Strictly increasing across every file this process writes, so a gateway can tell a newer table from an older one. */
export function nextRevision(): number {
  lastRevision = Math.max(lastRevision + 1, Date.now());
  return lastRevision;
}

/**
 * The gateway table for one server, derived entirely from the database (plus an optional overlay): the versions
 * that run there, the aliases whose version runs there, and the active API keys.
 */
export function planRoutes(store: DeployStore, serverId: number, keys: RouteKey[], overlay?: RoutesOverlay): Omit<RoutesFile, 'revision'> {
  const placements = store.placementsOnServer(serverId).filter((p) => !overlay?.removeVersions?.includes(p.versionId));
  for (const added of overlay?.addPlacements ?? []) if (added.serverId === serverId) placements.push(added);

  const models: RoutesFile['models'] = {};
  const modelsById = new Map(store.models().map((m) => [m.id, m]));
  for (const placement of placements) {
    const version = store.version(placement.versionId);
    const stillServing = version.state === 'live' || overlay?.addPlacements?.some((p) => p.versionId === version.id);
    if (!stillServing || placement.replicas.length === 0) continue;
    const model = modelsById.get(version.model_id)!;
    models[model.name] ??= { public: model.public === 1, versions: {}, aliases: {} };
    models[model.name].versions[String(version.number)] = { replicas: placement.replicas.map((r) => `127.0.0.1:${r.port}`) };
  }
  for (const [name, entry] of Object.entries(models)) {
    const model = store.model(name);
    const aliases = new Map(store.aliases(model.id).map((a) => [a.alias, a.version_id]));
    if (overlay?.modelId === model.id) for (const [alias, versionId] of Object.entries(overlay.aliases ?? {})) aliases.set(alias, versionId);
    for (const [alias, versionId] of aliases) {
      const number = String(store.version(versionId).number);
      if (entry.versions[number]) entry.aliases[alias] = number;
    }
  }
  return { models, keys };
}
