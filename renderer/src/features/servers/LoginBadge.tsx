import type { ServerLogin } from '../../../../shared/identity';

/** As whom this Berth acts on a server: a member (what that server lets them do) or a full shell. */
export function LoginBadge({ login }: { login: ServerLogin | null }) {
  if (!login) return null;
  if (login.kind === 'shell') {
    return (
      <div className="muted small" data-testid="login">
        full shell (root or sudo login)
      </div>
    );
  }
  const scopes = Object.entries(login.groups).map(([group, g]) => `${g.role} in ${group}${g.models ? ` (models ${g.models.join(', ')})` : ''}`);
  return (
    <div className="small" data-testid="login" title="Resolved by the server's berth-shell from this Berth's key">
      as <strong>{login.name}</strong>: {scopes.join('; ')}
    </div>
  );
}
