import { LOCAL_GROUP } from '../../../../shared/project-file';
import { useState } from 'react';
import type { GroupView } from '../../../../shared/servers';
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
            {group.serverIds.length === 1 && <span className="warn">{group.name === LOCAL_GROUP ? 'this computer alone: no redundancy' : 'one server: no redundancy'}</span>}
            {group.platforms.length > 1 ? (
              <span className="warn" data-testid="group-platform">
                mixed platforms ({group.platforms.join(', ')}): deploys are refused
              </span>
            ) : (
              group.platform && (
                <span className="muted mono" data-testid="group-platform">
                  {group.platform}
                </span>
              )
            )}
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
          <GatewaySettings group={group} />
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

/** HTTPS and binding of the group's gateways; while a group serves plain HTTP, a warning says what that exposes. */
function GatewaySettings({ group }: { group: GroupView }) {
  const { busy, setTls, setListen } = useServers();
  return (
    <div className="row wrap" data-testid="gateway-settings">
      {group.tls === 'https' ? (
        <span className="muted small">HTTPS only{group.authority ? ` · CA sha256 ${group.authority.fingerprint.slice(0, 16)}…` : ''}</span>
      ) : (
        <span className="warn" data-testid="plain-http-warning">
          serves plain HTTP: API keys and predictions cross the network unencrypted
        </span>
      )}
      <button className="link" disabled={busy} onClick={() => void setTls(group.name, group.tls === 'https' ? 'off' : 'https')}>
        {group.tls === 'https' ? 'Allow plain HTTP' : 'Switch to HTTPS'}
      </button>
      <label className="row">
        Gateways listen on
        <select aria-label={`${group.name} listens on`} value={group.listen} disabled={busy} onChange={(e) => void setListen(group.name, e.target.value as GroupView['listen'])}>
          <option value="all">every interface</option>
          <option value="host">the server's address only</option>
        </select>
      </label>
    </div>
  );
}
