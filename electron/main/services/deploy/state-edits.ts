/**
 * The deploy-side changes to a group state: pure functions on the state a change read from the servers, so the
 * version numbers, aliases and placements always build on what every Berth made, never on a local view.
 */
import { BerthError } from '../../../../shared/errors';
import type { GroupState, StateModel, StateReplica, StateVersion } from '../../../../shared/group-state';

export function modelIn(state: GroupState, name: string): StateModel {
  const model = state.models[name];
  if (!model) throw new BerthError('NotFound', `No model named "${name}" has been deployed to this group`);
  return model;
}

export function versionIn(state: GroupState, model: string, number: number): StateVersion {
  const version = modelIn(state, model).versions.find((v) => v.number === number);
  if (!version) throw new BerthError('NotFound', `${model} has no version v${number}`);
  return version;
}

export interface NewVersion {
  imageRef: string;
  imageId: string;
  notebookHash: string | null;
  dockerfile: string | null;
  requirements: string | null;
  createdBy: string;
  createdAt: string;
  message?: string;
  resources: StateVersion['resources'];
}

/** Reserves the model's next version number (pending until its replicas are up everywhere); returns it. */
export function reserveVersion(state: GroupState, model: string, fields: NewVersion): number {
  const entry = (state.models[model] ??= { public: false, keepVersions: 5, createdBy: fields.createdBy, createdAt: fields.createdAt, versions: [], aliases: {} });
  const number = Math.max(0, ...entry.versions.map((v) => v.number)) + 1;
  entry.versions.push({ number, ...fields, state: 'pending', placements: {} });
  return number;
}

/** The deploy's switch: the version's replicas are routed everywhere and `latest` names it. */
export function goLive(state: GroupState, model: string, number: number, placements: Record<string, StateReplica[]>): void {
  const version = versionIn(state, model, number);
  if (version.state !== 'pending') throw new BerthError('Conflict', `v${number} of ${model} is ${version.state}; another Berth changed it during this deploy`);
  version.placements = placements;
  version.state = 'live';
  modelIn(state, model).aliases.latest = number;
}

export function markFailed(state: GroupState, model: string, number: number): void {
  const version = versionIn(state, model, number);
  if (version.state === 'pending') Object.assign(version, { state: 'failed', placements: {} });
}

/** Points an alias at a kept version (live, or stopped and just started again). */
export function pointAlias(state: GroupState, model: string, alias: string, number: number): void {
  const version = versionIn(state, model, number);
  if (version.state !== 'live' && version.state !== 'stopped') throw new BerthError('Conflict', `v${number} of ${model} is ${version.state}; only kept versions can serve again`);
  version.state = 'live';
  modelIn(state, model).aliases[alias] = number;
}

export function aliasesOf(model: StateModel, number: number): string[] {
  return Object.entries(model.aliases).filter(([, n]) => n === number).map(([a]) => a);
}

export function setServing(state: GroupState, model: string, number: number, serving: boolean): void {
  const version = versionIn(state, model, number);
  const aliases = aliasesOf(modelIn(state, model), number);
  if (!serving && aliases.length) throw new BerthError('Conflict', `v${number} is still ${aliases.join(', ')}: move ${aliases.length > 1 ? 'those aliases' : 'that alias'} first`);
  const from = serving ? 'stopped' : 'live';
  if (version.state !== from) throw new BerthError('Conflict', `v${number} is ${version.state}, not ${from}`);
  version.state = serving ? 'live' : 'stopped';
}

/** Kept versions beyond the model's keep count and named by no alias: what a deploy retires. */
export function versionsToRetire(model: StateModel): StateVersion[] {
  const aliased = new Set(Object.values(model.aliases));
  const kept = [...model.versions].filter((v) => v.state === 'live' || v.state === 'stopped').sort((a, b) => b.number - a.number);
  return kept.slice(model.keepVersions).filter((v) => !aliased.has(v.number));
}

export function retire(state: GroupState, model: string, numbers: number[]): void {
  for (const number of numbers) Object.assign(versionIn(state, model, number), { state: 'retired', placements: {} });
}
