import { useEffect, useState } from 'react';
import type { GroupSyncView } from '../../../../shared/group-state';
import { useApp } from '../app/store';
import { ago, describeProblems } from './format';
import { useGroups } from './store';

/** Re-renders every `ms` so "synced 8 s ago" keeps counting. */
export function useNow(ms = 1000): number {
  const [now, setNow] = useState(() => Date.now());
  useEffect(() => {
    const id = setInterval(() => setNow(Date.now()), ms);
    return () => clearInterval(id);
  }, [ms]);
  return now;
}

/** The problems of a group's copies, from its last check if that check saw the revision the group is at now. */
export function currentProblems(view: GroupSyncView, check: GroupSyncView | undefined): string[] {
  if (!check || check.hash !== view.hash) return [];
  return describeProblems(check.copies, view.revision);
}

function describeGroup(view: GroupSyncView, now: number, fallbackSyncedAt?: string): string {
  const revision = view.revision === null ? 'not published yet' : `rev ${view.revision}`;
  return `${view.group} · ${revision} · synced ${ago(view.refreshedAt ?? fallbackSyncedAt, now)}`;
}

/**
 * The status bar's group item: "team · rev 12 · synced 8 s ago" (or "N groups in sync"), a warning naming the copy
 * that is damaged, behind, diverged or unreachable when a check found one. Starts the poll; opens the Servers page.
 */
export function GroupSyncStatus() {
  const start = useGroups((s) => s.start);
  const views = useGroups((s) => s.views);
  const checks = useGroups((s) => s.checks);
  const syncedAt = useGroups((s) => s.syncedAt);
  const syncError = useGroups((s) => s.syncError);
  const go = useApp((s) => s.go);
  const now = useNow();
  useEffect(() => start(), [start]);

  if (views.length === 0 && !syncError) return null;
  const problems = views.flatMap((v) => currentProblems(v, checks[v.group]).map((p) => `${v.group}: ${p}`));
  const lines = views.map((v) => describeGroup(v, now, syncedAt));

  let text: string;
  let warning = false;
  if (syncError) {
    warning = true;
    text = `⚠ Group sync failed: ${syncError.message}`;
  } else if (problems.length > 0) {
    warning = true;
    text = `⚠ ${problems[0]}${problems.length > 1 ? ` (+${problems.length - 1} more)` : ''}`;
  } else if (views.length === 1) {
    text = lines[0];
  } else {
    text = `${views.length} groups in sync · synced ${ago(syncedAt, now)}`;
  }
  const title = [...(syncError ? [`${syncError.kind}: ${syncError.message}`] : []), ...problems, ...lines, 'Open the Servers page'].join('\n');

  return (
    <button className="link" data-testid="group-sync" data-state={warning ? 'warning' : 'ok'} title={title} onClick={() => go('servers')}>
      <span className={warning ? 'warn' : 'muted'}>{text}</span>
    </button>
  );
}
