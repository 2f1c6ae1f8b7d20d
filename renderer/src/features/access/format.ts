import type { KeyScope } from '../../../../shared/access';

export function describeScope(scope: KeyScope): string {
  switch (scope.kind) {
    case 'all':
      return 'All models';
    case 'model':
      return `${scope.model} (all versions)`;
    case 'versions':
      return `${scope.model} v${scope.versions.join(', v')}`;
  }
}

export function formatTime(iso: string | null): string {
  if (!iso) return '—';
  const d = new Date(iso);
  return `${d.toLocaleDateString()} ${d.toLocaleTimeString([], { hour: '2-digit', minute: '2-digit' })}`;
}

/** The expiry choices offered when creating a key, as an ISO time from now (null: never). */
export function expiryFrom(choice: string, custom: string, now = Date.now()): string | null {
  const days: Record<string, number> = { '30d': 30, '90d': 90, '365d': 365 };
  if (choice in days) return new Date(now + days[choice] * 86_400_000).toISOString();
  if (choice === 'custom' && custom) return new Date(custom).toISOString();
  return null;
}
