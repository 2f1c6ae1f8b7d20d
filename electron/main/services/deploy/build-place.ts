import { chooseBuildPlace, type BuildOn, type BuildPlace } from '../../../../shared/build-on';
import type { Call } from '../../rpc/cli-kit';

/**
 * Where `berth deploy <path>` builds: `--build-on`, else the setting (default auto: here when this engine's platform
 * is the group's, else on the group's first server). Undefined: locally, or no such group (the deploy says why).
 */
export async function buildPlaceFor(call: Call, group: string, flag: BuildOn | undefined, groupPlatform: string | null): Promise<BuildPlace> {
  const view = (await call('groups.list', {})).find((g) => g.name === group);
  if (!view) return undefined;
  const choice = flag ?? (await call('settings.get', {})).buildOn;
  const engine = choice === 'auto' ? await call('engine.info', {}).then((e) => `${e.os}/${e.arch}`, () => null) : null;
  return chooseBuildPlace(choice, engine, { name: group, platform: groupPlatform, serverIds: view.serverIds });
}
