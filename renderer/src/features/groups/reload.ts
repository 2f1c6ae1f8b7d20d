/**
 * After a group's revision changed (another Berth, or this one, wrote a new revision and the cache imported it),
 * each store that shows group state reloads it with its own load action. A store reloads only if its page is
 * open or it already holds something; a store in the middle of its own action is left alone (its action reloads
 * when it ends). Pages load again when they are opened, so nothing else needs to happen.
 */
import { useAccess } from '../access/store';
import { useApp } from '../app/store';
import { useDeployments } from '../deployments/store';
import { useServers } from '../servers/store';

export async function reloadGroupViews(): Promise<void> {
  const page = useApp.getState().page;
  await Promise.allSettled([reloadDeployments(page === 'deployments'), reloadAccess(page === 'access'), reloadServers(page === 'servers')]);
}

async function reloadDeployments(shown: boolean) {
  const before = useDeployments.getState();
  if (before.running || !(shown || before.models.length > 0 || before.model)) return;
  // load() refreshes the model list (and opens the first model when none is open); the open model is refreshed here.
  const hadModel = before.model !== undefined;
  await before.load();
  const after = useDeployments.getState();
  if (hadModel && after.selected && after.models.includes(after.selected)) await after.select(after.selected);
}

async function reloadAccess(shown: boolean) {
  const access = useAccess.getState();
  if (access.busy || access.verifying) return;
  const jobs: Promise<void>[] = [];
  if (shown || access.keys.length > 0 || access.models.length > 0) jobs.push(access.loadKeys());
  if (shown || access.members.length > 0) jobs.push(access.loadTeam());
  await Promise.all(jobs);
  // The audit log is reloaded (with the filter it shows) once the keys and members are in.
  const after = useAccess.getState();
  if (!after.busy && ((shown && after.tab === 'audit') || after.audit.length > 0)) await after.loadAudit();
}

async function reloadServers(shown: boolean) {
  const servers = useServers.getState();
  if (servers.busy || !(shown || servers.servers.length > 0)) return;
  await servers.load();
}
