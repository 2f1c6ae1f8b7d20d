import type { GroupView } from '../../../../shared/servers';
import { ago, isProblem, repairable } from './format';
import { useNow } from './GroupSyncStatus';
import { useGroups } from './store';

const marks: Record<string, string> = { current: '✓', behind: '↓', missing: '∅', damaged: '✗', unreachable: '?', diverged: '≠' };

const when = (iso: string | null | undefined, now: number) => (iso ? `${new Date(iso).toLocaleString()} (${ago(iso, now)})` : 'never');

/**
 * One group's state on its servers: its revision, who changed it last and when, when this Berth last read it;
 * "Check copies" lists how each server's copy stands, and "Repair copies" appears when one can be repaired.
 */
export function GroupStatePanel({ group }: { group: GroupView }) {
  const view = useGroups((s) => s.views.find((v) => v.group === group.name));
  const check = useGroups((s) => s.checks[group.name]);
  const { busy, checking, check: checkCopies, repair } = useGroups();
  const now = useNow();

  // The poll's view, unless the Servers page's own list is newer (this Berth just changed the group).
  const pollNewer = view !== undefined && (group.revision === null || (view.revision ?? 0) >= group.revision);
  const revision = pollNewer ? view.revision : group.revision;
  const changedBy = pollNewer ? view.by : group.changedBy;
  const changedAt = pollNewer ? view.at : group.changedAt;
  const refreshedAt = [view?.refreshedAt, group.refreshedAt].filter((t): t is string => !!t).sort().at(-1) ?? null;
  const stale = check && view && check.hash !== view.hash;
  const canRepair = check?.copies.some(repairable) ?? false;
  const working = checking === group.name;

  return (
    <div className="group-state" data-testid="group-state" data-group-state={group.name}>
      <div className="row wrap small">
        {revision === null ? (
          <span className="muted">Not published to its servers yet: the first change (a deploy, a key, a member) publishes it.</span>
        ) : (
          <span data-testid="group-revision">
            Revision {revision} · changed by {changedBy ?? 'unknown'} · {when(changedAt, now)}
          </span>
        )}
        <span className="muted" data-testid="group-refreshed">
          · this Berth last read it {ago(refreshedAt, now)}
        </span>
        <span className="spacer" />
        <button onClick={() => void checkCopies(group.name)} disabled={busy || group.serverIds.length === 0} aria-label={`Check copies of ${group.name}`}>
          {working ? 'Checking…' : 'Check copies'}
        </button>
        {canRepair && (
          <button className="primary" onClick={() => void repair(group.name)} disabled={busy} aria-label={`Repair copies of ${group.name}`}>
            Repair copies
          </button>
        )}
      </div>
      {check && (
        <div className="server-results small" data-testid="group-copies">
          <strong>
            Copies at {new Date(check.checkedAt).toLocaleTimeString()}
            {check.revision !== null && ` (revision ${check.revision})`}
          </strong>
          {stale && <span className="warn"> the group has changed since: check again</span>}
          <ul>
            {check.copies.map((copy) => (
              <li key={copy.server} data-server={copy.server} data-copy-state={copy.state} className={isProblem(copy, check.revision) ? (copy.state === 'unreachable' || copy.state === 'behind' ? 'warn' : 'bad') : 'ok'}>
                {marks[copy.state]} {copy.server}: {copy.state}
                {copy.revision !== null && ` · revision ${copy.revision}`}
                {copy.detail && <span> — {copy.detail}</span>}
              </li>
            ))}
          </ul>
        </div>
      )}
    </div>
  );
}
