import type { CheckFinding, ProjectAnalysis, Severity } from '../../../../shared/project';
import { formatLocation } from './format';
import { usePackaging } from './packaging-store';
import { Ticks } from './Ticks';

const groups: { severity: Severity; title: string; note: string }[] = [
  { severity: 'error', title: 'Errors', note: 'These block the build.' },
  { severity: 'warning', title: 'Warnings', note: 'The build can go ahead; worth a look.' },
  { severity: 'info', title: 'Notes', note: '' },
];

/** Pre-build findings, grouped by severity, each with what to do and where ("model.ipynb · cell 3, line 2"). */
export function FindingsList({ analysis }: { analysis: ProjectAnalysis }) {
  const { findings } = analysis;
  // the switch is offered once, below the most severe group of missing packages
  const missingIn = findings.find((f) => f.code === 'import-not-installed')?.severity;
  return (
    <section className="card" aria-label="Findings" data-testid="findings">
      <h2>Findings</h2>
      {findings.length === 0 && <p className="ok">No problems found: the notebook can be packaged as it is.</p>}
      {groups.map(({ severity, title, note }) => {
        const list = findings.filter((f) => f.severity === severity);
        if (!list.length) return null;
        return (
          <div key={severity} className={`finding-group severity-${severity}`} data-testid={`findings-${severity}`}>
            <h3>
              {title} ({list.length}) <span className="muted small">{note}</span>
            </h3>
            <ul className="findings">
              {list.map((f, i) => (
                <FindingItem key={`${f.code}-${i}`} finding={f} analysis={analysis} />
              ))}
            </ul>
            {severity === missingIn && <OtherInterpreters analysis={analysis} />}
          </div>
        );
      })}
    </section>
  );
}

/** The other interpreters on this computer that have the missing packages, each one click away. */
function OtherInterpreters({ analysis }: { analysis: ProjectAnalysis }) {
  const { setOptions, preparing } = usePackaging();
  const others = analysis.otherInterpreters;
  if (!others) return null;
  if (!others.length) return <p className="muted small">No other interpreter Berth found on this computer has them all.</p>;
  return (
    <div className="other-interpreters" data-testid="other-interpreters">
      <p>These interpreters have them:</p>
      <ul>
        {others.map((o) => (
          <li key={o.path}>
            <span className="mono">{o.path}</span>{' '}
            <span className="muted">
              ({o.label}: {o.packages.map((p) => (p.version ? `${p.name} ${p.version}` : p.name)).join(', ')})
            </span>{' '}
            <button disabled={preparing} onClick={() => void setOptions({ interpreter: o.path })}>
              Use this one
            </button>
          </li>
        ))}
      </ul>
    </div>
  );
}

function FindingItem({ finding, analysis }: { finding: CheckFinding; analysis: ProjectAnalysis }) {
  const showCell = usePackaging((s) => s.showCell);
  const [summary, ...rest] = finding.message.split('\n');
  const where = formatLocation(finding.location);
  const cell = finding.location?.cell;
  const inModule =
    cell !== undefined && finding.location?.file === analysis.notebook && analysis.module.cellMap.some((c) => c.cell === cell);

  return (
    <li className={`finding ${finding.severity}`} data-code={finding.code}>
      <div className="row wrap finding-head">
        <span className={`pill severity ${finding.severity}`}>{finding.severity}</span>
        {where &&
          (inModule ? (
            <button
              className="link mono small"
              title="Show this cell in the inference module"
              onClick={() => {
                showCell(cell!);
                document.querySelector('[data-testid=module]')?.scrollIntoView({ behavior: 'smooth', block: 'center' });
              }}
            >
              {where}
            </button>
          ) : (
            <span className="mono small muted">{where}</span>
          ))}
        <span className="muted small mono">{finding.code}</span>
      </div>
      <div className="finding-message">
        <Ticks text={summary} />
      </div>
      {rest.length > 0 && (
        <details>
          <summary className="muted small">Details</summary>
          <pre className="snippet">{rest.join('\n')}</pre>
        </details>
      )}
    </li>
  );
}
