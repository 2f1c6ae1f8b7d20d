import { useEffect } from 'react';
import type { RecentProject } from '../../../../shared/types';
import { ErrorBanner } from '../../components/ErrorBanner';
import { AnalysisCard } from './AnalysisCard';
import { BuildPanel, useBuildGate } from './BuildPanel';
import { useBuild } from './build-store';
import { DependenciesPanel } from './DependenciesPanel';
import { DockerfilePanel } from './DockerfilePanel';
import { FindingsList } from './FindingsList';
import { ModulePanel } from './ModulePanel';
import { usePackaging } from './packaging-store';
import { SmokeCard } from './SmokeCard';
import { useProjects } from './store';

/** Everything about packaging one project, top to bottom in the order the user works through it. */
export function ProjectView({ project }: { project: RecentProject }) {
  const { path: shown, prepared, preparing, error, editError, dismissEditError, reanalyse } = usePackaging();
  const close = useProjects((s) => s.close);
  const loadHistory = useBuild((s) => s.loadHistory);
  const current = shown === project.path;

  // The analysis is started by whoever opens the project; the build history is loaded here.
  useEffect(() => void loadHistory(project.path), [project.path, loadHistory]);

  const ready = current && prepared;
  return (
    <>
      <section className="card project-header" data-testid="current-project">
        <div className="row wrap">
          <h2>{project.name}</h2>
          <span className="muted mono small">{project.path}</span>
          <span className="spacer" />
          {preparing && <span className="muted" data-testid="analysing">Analysing… (runs the served cells in the project’s interpreter)</span>}
          <button onClick={close}>Close</button>
        </div>
        {current && error && (
          <div className="error-banner project-error" data-testid="project-error" data-kind={error.kind}>
            <div>
              <strong>{error.kind}</strong> Berth cannot analyse this project.
              <div className="project-error-message">{error.message}</div>
            </div>
            <span className="spacer" />
            <button onClick={() => void reanalyse()} disabled={preparing}>
              Analyse again
            </button>
          </div>
        )}
        {ready && <ProjectSummary path={project.path} />}
      </section>
      <ErrorBanner error={editError} onDismiss={dismissEditError} />
      {ready && (
        <div className={preparing ? 'project-body stale' : 'project-body'}>
          <div className="project-grid">
            <AnalysisCard prepared={prepared} />
            <FindingsList analysis={prepared.analysis} />
          </div>
          <ModulePanel module={prepared.analysis.module} entrypoint={prepared.analysis.entrypoint} />
          <DependenciesPanel prepared={prepared} />
          <DockerfilePanel prepared={prepared} />
          <BuildPanel path={project.path} />
          <SmokeCard path={project.path} />
        </div>
      )}
    </>
  );
}

/** One line that says whether the project can be built, and why not. */
function ProjectSummary({ path }: { path: string }) {
  const prepared = usePackaging((s) => s.prepared)!;
  const gate = useBuildGate(path);
  const goToBuild = () => document.querySelector('[data-testid=build]')?.scrollIntoView({ behavior: 'smooth', block: 'start' });
  const { analysis, blocking } = prepared;
  const warnings = analysis.findings.filter((f) => f.severity === 'warning').length;
  return (
    <div className="row wrap summary" data-testid="project-summary">
      <span className="mono">{analysis.notebook}</span>
      <span className="muted">·</span>
      <span>
        serves <span className="mono">{analysis.entrypoint ?? '—'}</span>
      </span>
      <span className="muted">·</span>
      <span>Python {analysis.pythonVersion}</span>
      <span className="muted">·</span>
      <span>{analysis.dependencies.length} dependencies</span>
      <span className="spacer" />
      {blocking.length > 0 ? (
        <span className="pill down">{blocking.length === 1 ? '1 error blocks the build' : `${blocking.length} errors block the build`}</span>
      ) : (
        <span className="pill up">ready to build</span>
      )}
      {warnings > 0 && <span className="pill warn-pill">{warnings === 1 ? '1 warning' : `${warnings} warnings`}</span>}
      {gate.running && gate.ours ? (
        <button onClick={goToBuild}>Building… show</button>
      ) : (
        <button
          className="primary"
          data-testid="build-shortcut"
          disabled={gate.reason !== null || gate.running}
          title={gate.reason ?? 'Build the image and smoke-test it'}
          onClick={() => {
            goToBuild();
            void gate.start();
          }}
        >
          {gate.dirty ? 'Save and build' : 'Build'}
        </button>
      )}
    </div>
  );
}
