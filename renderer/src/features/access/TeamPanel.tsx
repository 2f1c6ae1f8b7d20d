import { useState } from 'react';
import { roles, roleSummary, type MemberView, type Role } from '../../../../shared/access';
import { formatTime } from './format';

/** "m1, m2" as a deployer's models; empty text: every model. */
const modelsOf = (text: string) => {
  const names = text.split(/[\s,]+/).filter(Boolean);
  return names.length ? names : undefined;
};
import { ServerResults } from './ServerResults';
import { useAccess } from './store';

function AddMemberForm() {
  const { busy, addMember, members } = useAccess();
  const people = members.filter((m) => m.owner === null);
  const [owner, setOwner] = useState('');
  const [name, setName] = useState('');
  const [role, setRole] = useState<Role>('viewer');
  const [publicKey, setPublicKey] = useState('');
  const [models, setModels] = useState('');

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    const scope = role === 'deployer' && modelsOf(models) ? { models: modelsOf(models) } : {};
    if (await addMember({ name, role, publicKey, ...scope, ...(owner ? { owner } : {}) })) {
      setOwner('');
      setName('');
      setPublicKey('');
      setModels('');
    }
  }

  return (
    <form className="card form grid-2" onSubmit={(e) => void submit(e)} aria-label="Add a team member">
      <h2 className="span-2">Add a team member</h2>
      <label>
        Name
        <input aria-label="Member name" placeholder="Vera Lindqvist" value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      <label>
        Role
        <select aria-label="Member role" value={role} onChange={(e) => setRole(e.target.value as Role)}>
          {roles.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
        <span className="muted small">{roleSummary[role]}</span>
      </label>
      {role === 'deployer' && (
        <label className="span-2">
          Models this deployer may change
          <input aria-label="Deployer models" placeholder="every model of the group (or e.g. iris, churn)" value={models} onChange={(e) => setModels(e.target.value)} />
          <span className="muted small">They see every model; the servers refuse them any change to a model not listed.</span>
        </label>
      )}
      <label className="span-2">
        Whose key
        <select aria-label="Key owner" value={owner} onChange={(e) => setOwner(e.target.value)}>
          <option value="">a person’s own key</option>
          {people.map((m) => (
            <option key={m.id} value={m.id}>
              a CI runner’s key of {m.name}
            </option>
          ))}
        </select>
        <span className="muted small">A CI runner gets a deployer key scoped to its models; offboarding its person can remove it with them.</span>
      </label>
      <label className="span-2">
        SSH public key
        <textarea
          aria-label="SSH public key"
          rows={3}
          className="mono small"
          placeholder="ssh-ed25519 AAAAC3Nza… vera@laptop  (the one line of ~/.ssh/id_ed25519.pub)"
          value={publicKey}
          onChange={(e) => setPublicKey(e.target.value)}
        />
      </label>
      <div className="row span-2">
        <button type="submit" className="primary" disabled={busy || !name.trim() || !publicKey.trim()}>
          Add and push to every server
        </button>
      </div>
    </form>
  );
}

/** A deployer's models, editable: saved as a role change (the servers enforce it). */
function DeployerScope({ member }: { member: MemberView }) {
  const { busy, setRole } = useAccess();
  const current = member.models?.join(', ') ?? '';
  const [draft, setDraft] = useState(current);
  return (
    <div className="row small">
      <input aria-label={`Models of ${member.name}`} placeholder="every model" value={draft} onChange={(e) => setDraft(e.target.value)} />
      <button disabled={busy || draft === current} onClick={() => void setRole(member.id, 'deployer', modelsOf(draft) ?? null)}>
        Save
      </button>
    </div>
  );
}

function MemberRow({ member }: { member: MemberView }) {
  const { busy, setRole, removeMember, members } = useAccess();
  const [confirming, setConfirming] = useState(false);
  const owned = members.filter((m) => m.owner === member.id);
  const [withOwned, setWithOwned] = useState(true);
  const ownerName = members.find((m) => m.id === member.owner)?.name;
  return (
    <tr data-member={member.name}>
      <td>
        <strong>{member.name}</strong>
        <div className="muted mono small">{member.id}</div>
        {member.owner && <div className="muted small">CI runner’s key of {ownerName ?? member.owner}</div>}
      </td>
      <td>{member.group ?? <span className="muted">not published</span>}</td>
      <td>
        <select aria-label={`Role of ${member.name}`} value={member.role} disabled={busy} onChange={(e) => void setRole(member.id, e.target.value as Role)}>
          {roles.map((r) => (
            <option key={r} value={r}>
              {r}
            </option>
          ))}
        </select>
        {member.role === 'deployer' && <DeployerScope member={member} />}
      </td>
      <td className="mono small">
        {member.keyType} {member.fingerprint}
      </td>
      <td className="muted small">{formatTime(member.updatedAt)}</td>
      <td className="actions">
        {confirming ? (
          <>
            {owned.length > 0 && (
              <label className="check small">
                <input type="checkbox" aria-label={`Also remove the CI keys of ${member.name}`} checked={withOwned} onChange={(e) => setWithOwned(e.target.checked)} />
                also remove their CI keys ({owned.map((m) => m.name).join(', ')})
              </label>
            )}
            <button className="danger" disabled={busy} onClick={() => void removeMember(member.id, withOwned && owned.length > 0)}>
              Confirm offboarding
            </button>
            <button className="link" onClick={() => setConfirming(false)}>
              Cancel
            </button>
          </>
        ) : (
          <button onClick={() => setConfirming(true)} aria-label={`Offboard ${member.name}`}>
            Offboard
          </button>
        )}
      </td>
    </tr>
  );
}

export function TeamPanel() {
  const { members, push, busy, pushAgain } = useAccess();
  return (
    <div className="team-panel">
      <p className="muted">
        Each member logs in to every server with their own SSH key; the server runs only <code>berth-shell</code> for that key, which allows
        exactly their role’s operations. Offboarding removes the key from every server at once.
      </p>
      <AddMemberForm />
      {push && (
        <div className="row">
          <ServerResults title="Pushed to the servers:" results={push.servers} note={push.note} testId="push-report" />
          <span className="spacer" />
          <button onClick={() => void pushAgain()} disabled={busy}>
            Push again
          </button>
        </div>
      )}
      {members.length === 0 ? (
        <p className="muted">No team members yet: only Berth’s own server account can change anything.</p>
      ) : (
        <table className="table" data-testid="member-list">
          <thead>
            <tr>
              <th>Member</th>
              <th>Group</th>
              <th>Role</th>
              <th>Key</th>
              <th>Changed</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {members.map((m) => (
              <MemberRow key={m.id} member={m} />
            ))}
          </tbody>
        </table>
      )}
    </div>
  );
}
