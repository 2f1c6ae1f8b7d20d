import { onePlatform, platformOfArch } from '../../../../shared/platform';
import type { Call } from '../../rpc/cli-kit';

/**
 * The platform a build for `group` targets (`berth deploy <path>` builds first): its servers' own, each asked now
 * (a fresh CLI has not read their facts; the deploy reuses these connections). A group that mixes platforms is refused
 * here, before minutes of building. Null: no server answered, or no such group (the deploy then says why).
 */
export async function buildPlatformFor(call: Call, group: string): Promise<string | null> {
  const view = (await call('groups.list', {})).find((g) => g.name === group);
  if (!view) return null;
  const servers = await Promise.all(view.serverIds.map((id) => call('servers.test', { id })));
  return onePlatform(group, servers.map((s) => ({ name: s.name, platform: platformOfArch(s.facts?.arch) })));
}
