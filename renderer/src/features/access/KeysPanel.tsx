import { useState } from 'react';
import type { ApiKeyView, KeyScope } from '../../../../shared/access';
import { describeScope, expiryFrom, formatTime } from './format';
import { ServerResults } from './ServerResults';
import { useAccess } from './store';

/** The secret of a new key, once: with a copy button and a warning that it will not be shown again. */
function SecretReveal() {
  const { revealed, dismissSecret } = useAccess();
  const [copied, setCopied] = useState<'no' | 'yes' | 'failed'>('no');
  if (!revealed) return null;
  const copy = () =>
    navigator.clipboard.writeText(revealed.secret).then(
      () => setCopied('yes'),
      () => setCopied('failed'),
    );
  return (
    <section className="card secret-reveal" role="alertdialog" aria-label="New API key" data-testid="secret-reveal">
      <h2>Key “{revealed.name}” created</h2>
      <p className="warn">
        Copy this key now and store it where its client can read it. Berth keeps only its SHA-256: it cannot show it again.
      </p>
      <div className="row">
        <code className="secret" data-testid="secret">
          {revealed.secret}
        </code>
        <button onClick={copy}>{copied === 'yes' ? 'Copied' : 'Copy'}</button>
      </div>
      {copied === 'failed' && <p className="bad small">The clipboard is not available here: select the key and copy it by hand.</p>}
      <p className="muted small">
        Clients send it as <code>Authorization: Bearer &lt;key&gt;</code> or <code>X-Api-Key: &lt;key&gt;</code>.
      </p>
      <button className="primary" onClick={dismissSecret}>
        I have stored the key
      </button>
    </section>
  );
}

function CreateKeyForm() {
  const { models, busy, createKey } = useAccess();
  const [name, setName] = useState('');
  const [kind, setKind] = useState<KeyScope['kind']>('all');
  const [model, setModel] = useState('');
  const [versions, setVersions] = useState<string[]>([]);
  const [expiry, setExpiry] = useState('90d');
  const [customExpiry, setCustomExpiry] = useState('');
  const chosen = models.find((m) => m.name === model);

  async function submit(e: React.FormEvent) {
    e.preventDefault();
    const scope: KeyScope = kind === 'all' ? { kind } : kind === 'model' ? { kind, model } : { kind, model, versions };
    if (await createKey({ name, scope, expiresAt: expiryFrom(expiry, customExpiry) })) setName('');
  }

  return (
    <form className="card form grid-2 key-form" onSubmit={(e) => void submit(e)} aria-label="Create an API key">
      <h2 className="span-2">Create an API key</h2>
      <label>
        Name
        <input aria-label="Key name" placeholder="billing-service" value={name} onChange={(e) => setName(e.target.value)} />
      </label>
      <label>
        May call
        <select aria-label="Key scope" value={kind} onChange={(e) => setKind(e.target.value as KeyScope['kind'])}>
          <option value="all">All models</option>
          <option value="model" disabled={!models.length}>
            One model
          </option>
          <option value="versions" disabled={!models.length}>
            Some versions of a model
          </option>
        </select>
      </label>
      {kind !== 'all' && (
        <label>
          Model
          <select aria-label="Key model" value={model} onChange={(e) => (setModel(e.target.value), setVersions([]))}>
            <option value="">Choose…</option>
            {models.map((m) => (
              <option key={m.name} value={m.name}>
                {m.name}
              </option>
            ))}
          </select>
        </label>
      )}
      {kind === 'versions' && chosen && (
        <fieldset className="versions">
          <legend>Versions</legend>
          {chosen.versions.length === 0 && <span className="muted">no versions yet</span>}
          {chosen.versions.map((v) => (
            <label key={v} className="check">
              <input
                type="checkbox"
                checked={versions.includes(v)}
                onChange={(e) => setVersions(e.target.checked ? [...versions, v] : versions.filter((x) => x !== v))}
              />
              v{v}
            </label>
          ))}
        </fieldset>
      )}
      <label>
        Expires
        <select aria-label="Key expiry" value={expiry} onChange={(e) => setExpiry(e.target.value)}>
          <option value="30d">in 30 days</option>
          <option value="90d">in 90 days</option>
          <option value="365d">in a year</option>
          <option value="custom">on a date…</option>
          <option value="never">never</option>
        </select>
      </label>
      {expiry === 'custom' && (
        <label>
          Expiry date
          <input aria-label="Expiry date" type="datetime-local" value={customExpiry} onChange={(e) => setCustomExpiry(e.target.value)} />
        </label>
      )}
      <div className="row span-2">
        <button type="submit" className="primary" disabled={busy || !name.trim()}>
          Create key
        </button>
      </div>
    </form>
  );
}

function KeyRow({ apiKey }: { apiKey: ApiKeyView }) {
  const { busy, revokeKey } = useAccess();
  const [confirming, setConfirming] = useState(false);
  return (
    <tr data-key={apiKey.id}>
      <td>
        <strong>{apiKey.name}</strong>
        <div className="muted mono small">{apiKey.id}</div>
      </td>
      <td>{apiKey.group ?? <span className="muted">not published</span>}</td>
      <td>{describeScope(apiKey.scope)}</td>
      <td>{apiKey.expiresAt ? formatTime(apiKey.expiresAt) : <span className="muted">never</span>}</td>
      <td>
        <span className={`pill key-${apiKey.state}`}>{apiKey.state}</span>
      </td>
      <td>
        {apiKey.requests.toLocaleString()} <span className="muted small">last {formatTime(apiKey.lastUsedAt)}</span>
      </td>
      <td className="muted small">
        {apiKey.createdBy}, {formatTime(apiKey.createdAt)}
        {apiKey.revokedAt && (
          <div>
            revoked by {apiKey.revokedBy}, {formatTime(apiKey.revokedAt)}
          </div>
        )}
      </td>
      <td className="actions">
        {apiKey.state !== 'revoked' &&
          (confirming ? (
            <>
              <button className="danger" disabled={busy} onClick={() => void revokeKey(apiKey.id).then(() => setConfirming(false))}>
                Confirm revoke
              </button>
              <button className="link" onClick={() => setConfirming(false)}>
                Cancel
              </button>
            </>
          ) : (
            <button onClick={() => setConfirming(true)} aria-label={`Revoke ${apiKey.name}`}>
              Revoke
            </button>
          ))}
      </td>
    </tr>
  );
}

function PublicModels() {
  const { models, busy, setPublic } = useAccess();
  if (!models.length) return null;
  return (
    <section className="card">
      <h2>Public models</h2>
      <p className="muted small">Models are private: every call needs a key. A public model answers anyone who can reach the gateway.</p>
      {models.map((m) => (
        <label key={m.name} className="check public-toggle">
          <input type="checkbox" checked={m.public} disabled={busy} onChange={(e) => void setPublic(m.name, e.target.checked)} aria-label={`${m.name} is public`} />
          {m.name} {m.public ? <span className="warn small">public: no key needed</span> : <span className="muted small">private</span>}
        </label>
      ))}
    </section>
  );
}

export function KeysPanel() {
  const { keys, publish } = useAccess();
  return (
    <div className="keys-panel">
      <SecretReveal />
      <CreateKeyForm />
      {publish && <ServerResults title="Gateways updated:" results={publish.servers} note={publish.note} testId="publish-report" />}
      {keys.length === 0 ? (
        <p className="muted">No API keys yet. Endpoints are private by default: create one key per client that calls your models.</p>
      ) : (
        <table className="table" data-testid="key-list">
          <thead>
            <tr>
              <th>Key</th>
              <th>Group</th>
              <th>Scope</th>
              <th>Expires</th>
              <th>State</th>
              <th>Requests</th>
              <th>Created</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {keys.map((k) => (
              <KeyRow key={k.id} apiKey={k} />
            ))}
          </tbody>
        </table>
      )}
      <PublicModels />
    </div>
  );
}
