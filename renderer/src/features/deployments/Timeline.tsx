import { useState } from 'react';
import type { VersionView } from '../../../../shared/deploy';
import { useDeployments } from './store';

function VersionActions({ version, latest }: { version: VersionView; latest: number | undefined }) {
  const { running, rollback, stopVersion, startVersion, setAlias } = useDeployments();
  const [alias, setAliasName] = useState('');
  const kept = version.state === 'live' || version.state === 'stopped';
  const canRollback = kept && version.number !== latest && version.imageMissingOn.length === 0;
  return (
    <div className="row wrap">
      {canRollback && (
        <button className="primary" disabled={running} onClick={() => rollback(version.number)} aria-label={`Roll back to v${version.number}`}>
          Roll back
        </button>
      )}
      {kept && version.imageMissingOn.length > 0 && (
        <span className="warn small">image gone from {version.imageMissingOn.join(', ')}: redeploy to roll back</span>
      )}
      {version.state === 'live' && version.aliases.length === 0 && (
        <button disabled={running} onClick={() => void stopVersion(version.number)}>
          Stop
        </button>
      )}
      {version.state === 'stopped' && (
        <button disabled={running} onClick={() => void startVersion(version.number)}>
          Start
        </button>
      )}
      {version.state === 'live' && (
        <form
          className="row"
          onSubmit={(e) => {
            e.preventDefault();
            if (alias) void setAlias(alias, version.number).then(() => setAliasName(''));
          }}
        >
          <input aria-label={`Alias for v${version.number}`} className="short" placeholder="alias" value={alias} onChange={(e) => setAliasName(e.target.value)} />
          <button type="submit" disabled={running || !alias}>
            Point alias here
          </button>
        </form>
      )}
    </div>
  );
}

/** Every version, newest first, with who/when/what and where it runs. */
export function Timeline() {
  const model = useDeployments((s) => s.model);
  const [open, setOpen] = useState<number | null>(null);
  if (!model) return null;
  const latest = model.versions.find((v) => v.aliases.includes('latest'))?.number;
  return (
    <section aria-label="Version timeline">
      <h2>Versions of {model.name}</h2>
      <ol className="timeline" data-testid="timeline">
        {model.versions.map((v) => (
          <li key={v.id} className={`timeline-item state-${v.state}`} data-version={v.number}>
            <div className="row">
              <strong>v{v.number}</strong>
              <span className={`pill ${v.state === 'live' ? 'up' : v.state === 'failed' ? 'down' : 'unknown'}`}>{v.state}</span>
              {v.aliases.map((a) => (
                <span key={a} className="pill alias">
                  {a}
                </span>
              ))}
              <span className="muted small">
                by {v.createdBy} · {new Date(v.createdAt).toLocaleString()} · {v.imageRef}
                {v.notebookHash && ` · notebook ${v.notebookHash.slice(0, 10)}`}
              </span>
              <span className="spacer" />
              <button className="link" onClick={() => setOpen(open === v.id ? null : v.id)}>
                {open === v.id ? 'Hide details' : 'Details'}
              </button>
            </div>
            <div className="muted small">
              {v.servers.map((s) => `${s.server}: ${s.replicas.length} replica(s)`).join(' · ') || 'not running anywhere'}
            </div>
            <VersionActions version={v} latest={latest} />
            {open === v.id && (
              <div className="details">
                <h3>Dockerfile</h3>
                <pre>{v.dockerfile ?? '(not recorded)'}</pre>
                <h3>Dependencies</h3>
                <pre>{v.requirements ?? '(not recorded)'}</pre>
              </div>
            )}
          </li>
        ))}
      </ol>
    </section>
  );
}
