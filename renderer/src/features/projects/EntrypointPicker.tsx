import type { ProjectAnalysis } from '../../../../shared/project';
import { usePackaging } from './packaging-store';

/** The function the model server calls: the notebook's top-level functions, preselected by the analysis. */
export function EntrypointPicker({ analysis }: { analysis: ProjectAnalysis }) {
  const setOptions = usePackaging((s) => s.setOptions);
  const preparing = usePackaging((s) => s.preparing);
  // While the analysis runs again, show the function just picked rather than snapping back to the old one.
  const pending = usePackaging((s) => (s.preparing && s.path ? s.options[s.path]?.entrypoint : undefined));
  const functions = analysis.functions.filter((f) => f.notebook === analysis.notebook);

  if (functions.length === 0) {
    return <span className="muted">No top-level function in {analysis.notebook}: define one (e.g. <code>def predict(inputs):</code>) in a cell.</span>;
  }
  return (
    <select
      aria-label="Entrypoint"
      data-testid="entrypoint"
      value={pending ?? analysis.entrypoint ?? ''}
      disabled={preparing}
      onChange={(e) => void setOptions({ entrypoint: e.target.value || undefined })}
    >
      {analysis.entrypoint === null && <option value="">Choose the function to serve…</option>}
      {functions.map((f) => (
        <option key={`${f.cell}:${f.name}`} value={f.name}>
          {f.name}({f.params.join(', ')}) — cell {f.cell + 1}
        </option>
      ))}
    </select>
  );
}
