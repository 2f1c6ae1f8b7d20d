import { useState } from 'react';
import type { VersionView } from '../../../../shared/deploy';
import { useDeployments } from './store';

/** What moving `latest` to this version is: a rollback to an older one, or making a newer one latest again. */
export function latestMove(number: number, latest: number | undefined): { label: string; question: string } {
  const from = latest === undefined ? '' : ` from v${latest}`;
  return latest !== undefined && number > latest
    ? { label: 'Make latest', question: `Make v${number} latest again? Clients of latest move${from} to v${number}.` }
    : { label: 'Roll back', question: `Roll back latest${from} to v${number}? Clients of latest get v${number} from now on.` };
}

/** Moving latest asks first: every client of `latest` changes version at once. */
function LatestButton({ version, latest }: { version: VersionView; latest: number | undefined }) {
  const { running, rollback } = useDeployments();
  const [asking, setAsking] = useState(false);
  const move = latestMove(version.number, latest);
  if (!asking) {
    return (
      <button className="primary" disabled={running} onClick={() => setAsking(true)} aria-label={`${move.label}: v${version.number}`}>
        {move.label}
      </button>
    );
  }
  return (
    <span className="row confirm" role="group" aria-label={`Confirm: ${move.label} v${version.number}`}>
      <span>{move.question}</span>
      <button className="primary" disabled={running} onClick={() => (setAsking(false), rollback(version.number))}>
        {move.label}
      </button>
      <button onClick={() => setAsking(false)}>Cancel</button>
    </span>
  );
}

function VersionActions({ version, latest }: { version: VersionView; latest: number | undefined }) {
  const { running, stopVersion, startVersion, setAlias } = useDeployments();
  const [alias, setAliasName] = useState('');
  const kept = version.state === 'live' || version.state === 'stopped';
  const canMoveLatest = kept && version.number !== latest && version.imageMissingOn.length === 0;
  return (
    <div className="row wrap">
      {canMoveLatest && <LatestButton version={version} latest={latest} />}
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
            {v.message && (
              <p className="version-message" data-testid="version-message">
                “{v.message}”
              </p>
            )}
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
