import { useState } from 'react';
import { ErrorBanner } from '../../components/ErrorBanner';
import { GroupStatePanel } from '../groups/GroupStatePanel';
import { useGroups } from '../groups/store';
import { useServers } from './store';

export function GroupsPanel() {
  const { groups, servers, busy, createGroup, setMembers, removeGroup } = useServers();
  const [name, setName] = useState('');
  const [replicas, setReplicas] = useState('2');
  const groupError = useGroups((s) => s.error);
  const dismissGroupError = useGroups((s) => s.dismissError);

  return (
    <section className="card" aria-label="Server groups">
      <h2>Server groups</h2>
      <p className="muted">A deploy goes to a group: every member runs the given number of replicas. Use at least two servers.</p>
      <ErrorBanner error={groupError} onDismiss={dismissGroupError} />
      {groups.map((group) => (
        <div key={group.id} className="group" data-group={group.name}>
          <div className="row">
            <strong>{group.name}</strong>
            <span className="muted">
              {group.replicas} replica{group.replicas === 1 ? '' : 's'} per server · {group.serverIds.length} server
              {group.serverIds.length === 1 ? '' : 's'}
            </span>
            {group.serverIds.length === 1 && <span className="warn">one server: no redundancy</span>}
            <span className="spacer" />
            <button className="link" onClick={() => void removeGroup(group.id)} disabled={busy}>
              Delete group
            </button>
          </div>
          <div className="row wrap">
            {servers.map((server) => {
              const member = group.serverIds.includes(server.id);
              return (
                <label key={server.id} className="check">
                  <input
                    type="checkbox"
                    aria-label={`${server.name} in ${group.name}`}
                    checked={member}
                    disabled={busy}
                    onChange={() =>
                      void setMembers(group.id, member ? group.serverIds.filter((id) => id !== server.id) : [...group.serverIds, server.id])
                    }
                  />
                  {server.name}
                </label>
              );
            })}
          </div>
          <GroupStatePanel group={group} />
        </div>
      ))}
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          void createGroup(name, Number(replicas)).then(() => setName(''));
        }}
      >
        <input aria-label="Group name" placeholder="prod" value={name} onChange={(e) => setName(e.target.value)} />
        <label className="row">
          Replicas per server
          <input aria-label="Replicas per server" className="narrow" value={replicas} onChange={(e) => setReplicas(e.target.value)} />
        </label>
        <button type="submit" disabled={busy || !name}>
          Create group
        </button>
      </form>
    </section>
  );
}
