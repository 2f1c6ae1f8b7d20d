import type { ExcludedCellReason, InferenceModule } from '../../../../shared/project';
import { CodeEditor } from '../../components/CodeEditor';
import { usePackaging } from './packaging-store';

const reasons: Record<ExcludedCellReason, string> = {
  training: 'tagged training',
  'skip-deploy': 'tagged skip-deploy',
  'sample-input': 'the sample input',
  'uses-sample': 'uses the sample',
  'cell-magic': 'a cell magic',
  empty: 'empty',
};

/** The generated inference module (read-only), and which notebook cells it came from. */
export function ModulePanel({ module, entrypoint }: { module: InferenceModule; entrypoint: string | null }) {
  const { highlight, showCell, clearHighlight } = usePackaging();
  const lines = module.source.split('\n').length;
  const height = Math.min(420, Math.max(160, lines * 19 + 12));

  return (
    <section className="card" aria-label="Inference module" data-testid="module">
      <div className="row">
        <h2>Inference module</h2>
        <span className="muted small">
          generated from <span className="mono">{module.notebook}</span>
          {entrypoint && (
            <>
              {' '}
              · serves <span className="mono">{entrypoint}()</span>
            </>
          )}{' '}
          · read-only: change the notebook and analyse again
        </span>
      </div>
      <div className="row wrap cell-chips" aria-label="Cells in the module">
        <span className="muted small">From cells:</span>
        {module.cellMap.map((c) => {
          const active = highlight?.startLine === c.startLine && highlight.endLine === c.endLine;
          return (
            <button
              key={c.cell}
              className={active ? 'chip active' : 'chip'}
              title={`Module lines ${c.startLine}–${c.endLine}`}
              onClick={() => (active ? clearHighlight() : showCell(c.cell))}
            >
              cell {c.cell + 1} <span className="muted">· lines {c.startLine}–{c.endLine}</span>
            </button>
          );
        })}
        {module.excludedCells.length > 0 && (
          <span className="muted small">
            Left out: {module.excludedCells.map((c) => `cell ${c.cell + 1} (${reasons[c.reason]})`).join(', ')}
          </span>
        )}
      </div>
      <CodeEditor label="module" language="python" value={module.source} readOnly height={height} highlight={highlight} />
    </section>
  );
}
