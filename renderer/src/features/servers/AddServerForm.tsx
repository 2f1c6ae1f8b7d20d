import { useState } from 'react';
import type { SshConfigHost } from '../../../../shared/servers';
import { useServers } from './store';

interface Draft {
  name: string;
  host: string;
  port: string;
  username: string;
  authType: 'keyFile' | 'agent';
  keyPath: string;
  passphrase: string;
}

const emptyDraft: Draft = { name: '', host: '', port: '22', username: 'root', authType: 'keyFile', keyPath: '', passphrase: '' };

/** Two steps, like ssh itself: see the host key fingerprint and accept it, then log in and register. */
export function AddServerForm({ onDone }: { onDone: () => void }) {
  const { pendingHostKey, busy, probe, add, cancelAdd, imported, importNote, importSshConfig } = useServers();
  const [draft, setDraft] = useState<Draft>(emptyDraft);
  // Empty: the default ~/.ssh/config. A text field, not a file dialog: the browser (web mode) has no path to give.
  const [configPath, setConfigPath] = useState('');
  const bind = (key: keyof Draft) => ({
    value: draft[key],
    onChange: (e: React.ChangeEvent<HTMLInputElement | HTMLSelectElement>) => setDraft({ ...draft, [key]: e.target.value }),
  });
  const fromConfig = (h: SshConfigHost) =>
    setDraft({
      name: h.alias.toLowerCase().replace(/[^a-z0-9-]/g, '-'),
      host: h.host,
      port: String(h.port),
      username: h.username ?? 'root',
      authType: h.identityFile ? 'keyFile' : 'agent',
      keyPath: h.identityFile ?? '',
      passphrase: '',
    });

  async function accept() {
    const ok = await add({
      name: draft.name,
      host: draft.host,
      port: Number(draft.port),
      username: draft.username,
      auth:
        draft.authType === 'keyFile'
          ? { type: 'keyFile', path: draft.keyPath, ...(draft.passphrase ? { passphrase: draft.passphrase } : {}) }
          : { type: 'agent' },
      hostKeyFingerprint: pendingHostKey!.fingerprint,
    });
    if (ok) {
      setDraft(emptyDraft);
      onDone();
    }
  }

  return (
    <section className="card" aria-label="Add a server">
      <h2>Add a server</h2>
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          void importSshConfig(configPath.trim() || undefined);
        }}
      >
        <input aria-label="SSH config file" placeholder="~/.ssh/config" value={configPath} onChange={(e) => setConfigPath(e.target.value)} />
        <button type="submit" disabled={busy}>
          Import from {configPath.trim() || '~/.ssh/config'}
        </button>
        {imported.map((h) => (
          <button key={h.alias} type="button" className="link" onClick={() => fromConfig(h)}>
            {h.alias}
          </button>
        ))}
      </form>
      {importNote && (
        <p className="warn small" data-testid="ssh-config-note">
          {importNote}
        </p>
      )}
      <form
        className="form grid-2"
        onSubmit={(e) => {
          e.preventDefault();
          void probe(draft.host, Number(draft.port));
        }}
      >
        <label>
          Name
          <input aria-label="Server name" placeholder="prod-1" {...bind('name')} />
        </label>
        <label>
          Address
          <input aria-label="Address" placeholder="10.0.0.5 or host.example.com" {...bind('host')} />
        </label>
        <label>
          Port
          <input aria-label="Port" inputMode="numeric" {...bind('port')} />
        </label>
        <label>
          User
          <input aria-label="User" {...bind('username')} />
        </label>
        <label>
          Log in with
          <select aria-label="Log in with" {...bind('authType')}>
            <option value="keyFile">A private key file</option>
            <option value="agent">ssh-agent</option>
          </select>
        </label>
        {draft.authType === 'keyFile' && (
          <>
            <label>
              Private key file
              <input aria-label="Private key file" placeholder="~/.ssh/id_ed25519" {...bind('keyPath')} />
            </label>
            <label>
              Passphrase (if any)
              <input aria-label="Key passphrase" type="password" autoComplete="off" {...bind('passphrase')} />
            </label>
          </>
        )}
        {!pendingHostKey && (
          <div className="row">
            <button type="submit" className="primary" disabled={busy || !draft.host}>
              Check host key
            </button>
            <button type="button" onClick={onDone}>
              Cancel
            </button>
          </div>
        )}
      </form>
      {pendingHostKey && (
        <div className="host-key" data-testid="host-key">
          <p>
            {pendingHostKey.host}:{pendingHostKey.port} presents this {pendingHostKey.keyType} key:
          </p>
          <code className="fingerprint">{pendingHostKey.fingerprint}</code>
          <p className="muted">
            Compare it with the server’s own (<code>ssh-keygen -lf /etc/ssh/ssh_host_ed25519_key.pub</code> on the server).
            Berth will refuse the server if this key ever changes.
          </p>
          <div className="row">
            <button className="primary" onClick={() => void accept()} disabled={busy}>
              Accept key and add server
            </button>
            <button onClick={cancelAdd}>Cancel</button>
          </div>
        </div>
      )}
    </section>
  );
}
