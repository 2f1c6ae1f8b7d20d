import { useState } from 'react';
import type { PreparedBuild } from '../../../../shared/build';
import type { InterpreterSource } from '../../../../shared/project';
import { formatBytes } from '../servers/format';
import { EntrypointPicker } from './EntrypointPicker';
import { formatJson } from './format';
import { usePackaging } from './packaging-store';

const sourceLabels: Record<InterpreterSource, string> = {
  override: 'chosen by you',
  venv: 'the project’s virtualenv',
  conda: 'the conda environment',
  kernelspec: 'the notebook’s Jupyter kernel',
  path: 'the first python3 on PATH',
};

/** What Berth learned from the project: notebook, interpreter, entrypoint, sample and model files. */
export function AnalysisCard({ prepared }: { prepared: PreparedBuild }) {
  const { analysis, baseImage } = prepared;
  const { setOptions, reanalyse, preparing } = usePackaging();
  const notebook = analysis.notebooks.find((n) => n.path === analysis.notebook);
  const readable = analysis.notebooks.filter((n) => n.error === null);

  return (
    <section className="card" aria-label="Analysis" data-testid="analysis">
      <div className="row">
        <h2>Analysis</h2>
        <span className="spacer" />
        <span className="muted small">analysed {new Date(analysis.analyzedAt).toLocaleTimeString()}</span>
        <button onClick={() => void reanalyse()} disabled={preparing}>
          {preparing ? 'Analysing…' : 'Analyse again'}
        </button>
      </div>
      <dl className="facts">
        <dt>Notebook</dt>
        <dd>
          {readable.length > 1 ? (
            <select aria-label="Notebook" value={analysis.notebook} disabled={preparing} onChange={(e) => void setOptions({ notebook: e.target.value, entrypoint: undefined })}>
              {readable.map((n) => (
                <option key={n.path}>{n.path}</option>
              ))}
            </select>
          ) : (
            <span className="mono">{analysis.notebook}</span>
          )}
          {notebook && (
            <span className="muted">
              {' '}
              · {notebook.cellCount} cells ({notebook.codeCellCount} code)
              {notebook.kernelspec?.displayName ? ` · kernel ${notebook.kernelspec.displayName}` : ''}
            </span>
          )}
          {analysis.notebooks
            .filter((n) => n.error)
            .map((n) => (
              <div key={n.path} className="bad small">
                {n.path}: {n.error}
              </div>
            ))}
        </dd>
        <dt>Interpreter</dt>
        <dd>
          <InterpreterField path={analysis.interpreter.path} />
          <span className="muted">
            {' '}
            · Python {analysis.pythonVersion} · {sourceLabels[analysis.interpreter.source]}
          </span>
        </dd>
        <dt>Entrypoint</dt>
        <dd>
          <EntrypointPicker analysis={analysis} />
        </dd>
        <dt>Sample</dt>
        <dd>
          {analysis.sample ? (
            <>
              <span className="mono">{analysis.sample.variable}</span>
              <span className="muted"> (cell {analysis.sample.cell + 1}) → </span>
              <span className="mono" data-testid="expected-output">
                {formatJson(analysis.sample.expectedOutput)}
              </span>
            </>
          ) : (
            <span className="warn">None: the smoke test will be skipped, and a build without it cannot be deployed.</span>
          )}
        </dd>
        <dt>Model files</dt>
        <dd>
          {analysis.files.models.length === 0 && <span className="muted">none referenced</span>}
          {analysis.files.models.map((f) => (
            <div key={f.path}>
              <span className="mono">{f.path}</span>
              <span className="muted">
                {' '}
                · {f.exists ? (f.sizeBytes !== null ? formatBytes(f.sizeBytes) : 'present') : 'missing'}
                {f.pickle?.sklearnVersions.length ? ` · saved with scikit-learn ${f.pickle.sklearnVersions.join(', ')}` : ''}
                {' · '}
                <code>{f.call}</code>
              </span>
            </div>
          ))}
        </dd>
        <dt>Base image</dt>
        <dd>
          <span className="mono">{baseImage}</span> <span className="muted small">(Settings)</span>
        </dd>
      </dl>
    </section>
  );
}

/** The interpreter's path, and a way to pick the one the notebook really runs with. */
function InterpreterField({ path }: { path: string }) {
  const { setOptions, preparing, options, path: project } = usePackaging();
  const [editing, setEditing] = useState(false);
  const [value, setValue] = useState(path);
  const overridden = project ? Boolean(options[project]?.interpreter) : false;

  if (!editing) {
    return (
      <>
        <span className="mono">{path}</span>{' '}
        <button className="link" onClick={() => (setValue(path), setEditing(true))}>
          Change
        </button>
        {overridden && (
          <button className="link" onClick={() => void setOptions({ interpreter: undefined })} disabled={preparing}>
            Find it again
          </button>
        )}
      </>
    );
  }
  return (
    <form
      className="row inline-form"
      onSubmit={(e) => {
        e.preventDefault();
        setEditing(false);
        void setOptions({ interpreter: value.trim() || undefined });
      }}
    >
      <input aria-label="Interpreter path" className="wide mono" value={value} onChange={(e) => setValue(e.target.value)} placeholder="/path/to/venv/bin/python" />
      <button type="submit" className="primary" aria-label="Use this interpreter">
        Use
      </button>
      <button type="button" onClick={() => setEditing(false)}>
        Cancel
      </button>
    </form>
  );
}
