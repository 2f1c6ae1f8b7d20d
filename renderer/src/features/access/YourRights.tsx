import { useEffect } from 'react';
import { roleSummary } from '../../../../shared/access';
import type { ServerView } from '../../../../shared/servers';
import { useServers } from '../servers/store';

/** One line per distinct login: as whom this Berth acts, on which servers, and what that lets it do. */
function loginsOf(servers: ServerView[]): Array<{ text: string; detail: string; servers: string[] }> {
  const lines = new Map<string, { text: string; detail: string; servers: string[] }>();
  for (const s of servers) {
    if (!s.login) continue;
    const text =
      s.login.kind === 'shell'
        ? 'a full shell (root or sudo login): every action, nothing checked by role'
        : `${s.login.name}, ${s.login.role}` +
          Object.entries(s.login.groups)
            .map(([group, g]) => ` in ${group}${g.models ? ` (models ${g.models.join(', ')})` : ''}`)
            .join(',');
    const detail = s.login.kind === 'shell' ? 'Switch to your member key on the Servers page once you are a member.' : `May: ${roleSummary[s.login.role]}.`;
    lines.set(text, { text, detail, servers: [...(lines.get(text)?.servers ?? []), s.name] });
  }
  return [...lines.values()];
}

/** What the current member may do, as the servers resolved it: nothing is hidden, and a refusal names the role it needs. */
export function YourRights() {
  const { servers, load } = useServers();
  useEffect(() => void load(), [load]);
  const logins = loginsOf(servers);
  if (logins.length === 0) return null;
  return (
    <section className="card" aria-label="Your rights">
      <h2>You act as</h2>
      <ul>
        {logins.map((l) => (
          <li key={l.text} data-testid="your-rights">
            <strong>{l.text}</strong> on {l.servers.join(', ')}
            <div className="muted small">{l.detail}</div>
          </li>
        ))}
      </ul>
    </section>
  );
}
