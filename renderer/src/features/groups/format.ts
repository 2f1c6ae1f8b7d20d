import type { GroupSyncView } from '../../../../shared/group-state';

export type CopyView = GroupSyncView['copies'][number];

/** "8 s ago", "3 min ago", "2 h ago", or the date for anything older than a day. */
export function ago(iso: string | null | undefined, now = Date.now()): string {
  if (!iso) return 'never';
  const then = new Date(iso).getTime();
  const seconds = Math.max(0, Math.round((now - then) / 1000));
  if (seconds < 60) return `${seconds} s ago`;
  if (seconds < 3600) return `${Math.floor(seconds / 60)} min ago`;
  if (seconds < 86_400) return `${Math.floor(seconds / 3600)} h ago`;
  return new Date(iso).toLocaleDateString();
}

/** A copy that needs attention: anything not current; a missing copy only once the group has been published. */
export function isProblem(copy: CopyView, revision: number | null): boolean {
  if (copy.state === 'current') return false;
  if (copy.state === 'missing') return revision !== null;
  return true;
}

/** Copies that `groups.repair` can fix (it writes the current revision again; an unreachable server must come back first). */
export const repairable = (copy: CopyView) => copy.state === 'damaged' || copy.state === 'missing' || copy.state === 'behind' || copy.state === 'diverged';

/** One line per problem copy: "tb3 damaged (revision 4 does not match its hash)". */
export function describeProblems(copies: CopyView[], revision: number | null): string[] {
  return copies.filter((c) => isProblem(c, revision)).map((c) => `${c.server} ${c.state}${c.detail ? ` (${c.detail})` : ''}`);
}
