import { useState } from 'react';
import { useServers } from './store';

/**
 * After claiming servers with root, every Berth (the admin's too) should log in with its member's own key: the
 * servers then check each action against that member's role, and root's key can be retired.
 */
export function SwitchKeyForm() {
  const { servers, busy, switchKey, switchMessage } = useServers();
  const [path, setPath] = useState('');
  const [passphrase, setPassphrase] = useState('');
  const shells = servers.filter((s) => s.login?.kind !== 'member');
  const [picked, setPicked] = useState<number[] | null>(null);
  const chosen = picked ?? shells.map((s) => s.id);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    if (await switchKey({ serverIds: chosen, auth: { type: 'keyFile', path, ...(passphrase ? { passphrase } : {}) } })) setPicked(null);
  }

  return (
    <form className="card form" onSubmit={(e) => void submit(e)} aria-label="Log in with my member key">
      <h2>Log in with my member key</h2>
      <p className="muted small">
        Once you are a team member (Team page), log in with your own key: the servers then check every action against your role, and the root key is no
        longer needed. Berth checks every chosen server first and changes nothing unless each logs you in as a member or with a shell.
      </p>
      <label>
        Private key file
        <input aria-label="Member private key" className="mono" placeholder="~/.ssh/id_ed25519" value={path} onChange={(e) => setPath(e.target.value)} />
      </label>
      <label>
        Passphrase (if any)
        <input aria-label="Member key passphrase" type="password" value={passphrase} onChange={(e) => setPassphrase(e.target.value)} />
      </label>
      <div className="row">
        {servers.map((s) => (
          <label key={s.id} className="check">
            <input
              type="checkbox"
              aria-label={`Switch ${s.name}`}
              checked={chosen.includes(s.id)}
              onChange={(e) => setPicked(e.target.checked ? [...chosen, s.id] : chosen.filter((id) => id !== s.id))}
            />
            {s.name}
          </label>
        ))}
      </div>
      <button className="primary" disabled={busy || !path || chosen.length === 0}>
        Use this key
      </button>
      {switchMessage && (
        <p className="ok small" role="status" data-testid="switch-message">
          {switchMessage}
        </p>
      )}
    </form>
  );
}
