import type { SavedDeployment } from '../../../../shared/deployment-file';
import type { ProjectFile } from '../../../../shared/project-file';
import { ErrorBanner } from '../../components/ErrorBanner';
import { GeneratorDiff } from '../projects/GeneratorDiff';
import { useDeploymentFile, type DeploymentValues } from './deployment-file-store';

/** True when a value the panel sets says something other than berth.toml (an empty field keeps the file's). */
function differsFromFile(file: ProjectFile, values: DeploymentValues): boolean {
  const differs = (value: number | undefined, inFile: number | undefined) => value !== undefined && value !== inFile;
  return (
    values.group !== file.group.name ||
    differs(values.memoryMb, file.memory_mb) ||
    differs(values.replicas, file.replicas) ||
    differs(values.cpus, file.cpus) ||
    (values.gpus !== undefined && JSON.stringify(values.gpus) !== JSON.stringify(file.gpus)) ||
    differs(values.readinessTimeoutS, file.readiness_timeout_s)
  );
}

/**
 * Where the panel's settings stand against the project's berth.toml: taken from it and in sync, changed (offering to
 * update it, diff first), no file yet (offering to save one), or invalid (its issues; nothing can be deployed).
 */
export function DeploymentFileStatus({ projectPath, values, groups }: { projectPath: string; values: DeploymentValues; groups: string[] }) {
  const { path, view, invalid, pending, busy, error, load, preview, dismiss } = useDeploymentFile();
  if (path !== projectPath) return null;

  if (invalid) {
    return (
      <div className="error-banner project-error" data-testid="deployment-file" data-state="invalid">
        <div>
          <strong>berth.toml is not valid</strong> Fix {invalid.file ?? 'it'} before deploying this project:
          <ul data-testid="deployment-file-issues">
            {invalid.issues.map((issue, i) => (
              <li key={i} className="mono small">
                {issue.line ? `line ${issue.line}` : 'berth.toml'}: {issue.field}: {issue.message}
              </li>
            ))}
          </ul>
          {invalid.issues.length === 0 && <div className="project-error-message">{invalid.message}</div>}
        </div>
        <span className="spacer" />
        <button onClick={() => void load(projectPath)} disabled={busy}>
          Read again
        </button>
      </div>
    );
  }
  if (!view) return <ErrorBanner error={error} onDismiss={dismiss} />;

  const file = view.projectFile;
  const changed = !file || differsFromFile(file, values);
  // A preview of other values than the form's now is stale: the user changed a field since.
  const previewed = pending && JSON.stringify(pending.values) === JSON.stringify(values) ? pending : undefined;
  return (
    <div style={{ marginTop: 12, display: 'grid', gap: 8 }} data-testid="deployment-file" data-state={!file ? 'none' : changed ? 'changed' : 'in-sync'}>
      <div className="row wrap">
        {!file ? (
          <span className="muted">This project has no berth.toml yet: save these settings with it, so every Berth and CI deploys them.</span>
        ) : changed ? (
          <span className="pill warn-pill">differs from berth.toml</span>
        ) : (
          <span className="pill up">in sync with berth.toml</span>
        )}
        {file && !changed && <span className="muted small">group, memory, replicas, CPUs and readiness come from it</span>}
        <span className="mono small muted">{view.file}</span>
        <span className="spacer" />
        {changed && !previewed && (
          <button onClick={() => void preview(values)} disabled={busy}>
            {busy ? 'Preparing the diff…' : file ? 'Update berth.toml' : 'Save as berth.toml'}
          </button>
        )}
      </div>
      {file && !groups.includes(file.group.name) && (
        <div className="warn small" data-testid="deployment-file-group-unknown">
          berth.toml deploys to group {file.group.name}, which this Berth does not have: add its servers and group on the Servers page, or pick another group here.
        </div>
      )}
      <ErrorBanner error={error} onDismiss={dismiss} />
      {previewed && <PendingChange preview={previewed.preview} />}
    </div>
  );
}

/** The previewed change: its diff, written only on confirm. */
function PendingChange({ preview }: { preview: SavedDeployment }) {
  const { busy, confirm, cancel } = useDeploymentFile();
  if (preview.before === preview.after) {
    return (
      <div className="row">
        <span className="muted">berth.toml already says this.</span>
        <button onClick={cancel}>Close</button>
      </div>
    );
  }
  return (
    <div className="generator-changed" data-testid="deployment-file-diff">
      <span>{preview.before === null ? 'Berth will create' : 'Berth will change'} {preview.file}:</span>
      <GeneratorDiff diff={preview.diff} />
      <div className="row">
        <button className="primary" onClick={() => void confirm()} disabled={busy}>
          {busy ? 'Writing…' : 'Write berth.toml'}
        </button>
        <button onClick={cancel} disabled={busy}>
          Cancel
        </button>
      </div>
    </div>
  );
}
