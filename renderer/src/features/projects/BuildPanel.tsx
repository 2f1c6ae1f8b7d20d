import { useEffect, useRef, useState } from 'react';
import type { BuildPhase, PreparedBuild } from '../../../../shared/build';
import { ErrorBanner } from '../../components/ErrorBanner';
import { Terminal, type TerminalHandle } from '../../components/Terminal';
import { formatBytes } from '../servers/format';
import { useApp } from '../app/store';
import { followLog, placeOfGroup, platformOfGroup, useBuild } from './build-store';
import { formatDuration } from './format';
import { usePackaging } from './packaging-store';

const phases: { phase: BuildPhase; label: string }[] = [
  { phase: 'analyze', label: 'Analyse' },
  { phase: 'context', label: 'Build context' },
  { phase: 'build', label: 'Docker build' },
  { phase: 'smoke', label: 'Smoke test' },
];

/** Why the Build button is disabled, or null when it is not. */
function blockReason(prepared: PreparedBuild | undefined, preparing: boolean, engine: { reachable: boolean; message?: string } | undefined): string | null {
  if (preparing) return 'Analysing the project…';
  if (!prepared) return 'The project could not be analysed.';
  const n = prepared.blocking.length;
  if (n) return `${n === 1 ? 'One error blocks' : `${n} errors block`} the build: fix ${n === 1 ? 'it' : 'them'} (see Findings) and analyse again.`;
  if (!prepared.analysis.entrypoint) return 'Choose the function to serve first.';
  if (engine && !engine.reachable) return `Docker is not reachable: ${engine.message ?? 'start the Docker engine'}.`;
  return null;
}

/** Overall progress: the Docker build's steps take most of the bar. */
function percent(phase: BuildPhase | undefined, progress: { step: number; total: number } | undefined, done: boolean): number {
  if (done) return 100;
  switch (phase) {
    case 'analyze':
      return 3;
    case 'context':
      return 8;
    case 'build':
      return 10 + (progress ? (75 * (progress.step - 1)) / progress.total : 0);
    case 'smoke':
      return 90;
    default:
      return 0;
  }
}

function useElapsed(since: number | undefined, until: number | undefined): number {
  const [now, setNow] = useState(Date.now());
  useEffect(() => {
    if (since === undefined || until !== undefined) return;
    const timer = setInterval(() => setNow(Date.now()), 1000);
    return () => clearInterval(timer);
  }, [since, until]);
  return since === undefined ? 0 : (until ?? now) - since;
}

/** Whether the project can be built now (and why not), and the action that builds it. */
export function useBuildGate(path: string) {
  const { prepared, preparing, options, save } = usePackaging();
  const build = useBuild();
  const engine = useApp((s) => s.status?.engine);
  const dirty = usePackaging((s) => Object.keys(s.drafts[path] ?? {}).length > 0);
  const ours = build.path === path;
  const running = build.status === 'running';
  const reason = running && !ours ? `Another project is building (${build.path}).` : blockReason(prepared, preparing, engine);

  async function start() {
    // A build uses the saved edits; save what is in the editors first so the build is what the user sees.
    if (!(await save())) return;
    const group = prepared?.analysis.projectFile?.group.name;
    const platform = await platformOfGroup(group);
    build.start(path, options[path], platform, await placeOfGroup(group, platform).catch(() => undefined));
  }
  return { reason, running, ours, dirty, blocked: Boolean(prepared?.blocking.length), start };
}

export function BuildPanel({ path }: { path: string }) {
  const build = useBuild();
  const { reason, running, ours, dirty, blocked, start } = useBuildGate(path);
  const elapsed = useElapsed(ours ? build.startedAt : undefined, build.finishedAt);
  const last = build.histories[path]?.[0];

  return (
    <section className="card" aria-label="Build" data-testid="build">
      <div className="row wrap">
        <h2>Build</h2>
        <span className="spacer" />
        {running && ours ? (
          <button onClick={() => build.cancel()} data-testid="cancel-build">
            Cancel
          </button>
        ) : (
          <button className="primary" onClick={() => void start()} disabled={reason !== null || running} data-testid="build-button">
            {dirty ? 'Save and build' : 'Build'}
          </button>
        )}
      </div>
      {reason && !(running && ours) && (
        <p className={blocked ? 'bad' : 'muted'} data-testid="build-blocked-reason">
          {reason}
        </p>
      )}
      {!ours && !last && !reason && (
        <p className="muted">
          Builds the image locally from the Dockerfile above, then starts it once and sends it the notebook’s sample (the smoke test).
        </p>
      )}
      {!ours && last && (
        <p className="muted" data-testid="last-build">
          Last build {new Date(last.createdAt).toLocaleString()}: <span className={last.status === 'succeeded' ? 'ok' : 'bad'}>{last.status}</span>
          {last.imageTag && (
            <>
              {' '}
              · <span className="mono">{last.imageTag}</span>
            </>
          )}
          {last.sizeBytes !== null && ` · ${formatBytes(last.sizeBytes)}`}
          {last.durationMs !== null && ` · ${formatDuration(last.durationMs)}`}
          {last.error && ` · ${last.error.message.split('\n')[0]}`}
        </p>
      )}
      {ours && (
        <>
          <ol className="phases" aria-label="Build phases">
            {phases.map(({ phase, label }, i) => {
              const current = phases.findIndex((p) => p.phase === build.phase);
              const state = i < current || (i === current && build.status === 'succeeded') ? 'done' : i === current ? build.status : 'todo';
              return (
                <li key={phase} className={`phase phase-${state}`}>
                  {label}
                  {phase === 'build' && build.progress && i === current && ` ${build.progress.step}/${build.progress.total}`}
                </li>
              );
            })}
          </ol>
          <div className="progress build-progress" data-testid="build-progress" data-status={build.status}>
            <div style={{ width: `${percent(build.phase, build.progress, build.status === 'succeeded')}%` }} />
            <span className="small">
              {build.status === 'running'
                ? build.phase === 'build' && build.progress
                  ? `Step ${build.progress.step}/${build.progress.total}: ${build.progress.instruction}`
                  : build.phase === 'smoke'
                    ? 'Smoke test: starting the container and sending the sample…'
                    : 'Preparing…'
                : build.status === 'succeeded'
                  ? 'Done'
                  : build.status === 'cancelled'
                    ? 'Cancelled'
                    : 'Failed'}
              {' · '}
              {formatDuration(elapsed)}
            </span>
          </div>
          {/* A failed smoke test is explained in its own card below. */}
          {build.error && build.error.kind !== 'Cancelled' && build.error.kind !== 'SmokeTestFailed' && <ErrorBanner error={build.error} />}
          {build.result && (
            <p className="muted" data-testid="build-result">
              Built <span className="mono">{build.result.imageTag}</span> · {formatBytes(build.result.sizeBytes)} · {formatDuration(build.result.durationMs)} ·{' '}
              {build.result.cachedSteps}/{build.result.totalSteps} steps from cache
            </p>
          )}
        </>
      )}
      <BuildLog visible={ours} />
    </section>
  );
}

/** The build output in an xterm panel, with search; it follows the kept output, so it survives navigation. */
function BuildLog({ visible }: { visible: boolean }) {
  const terminal = useRef<TerminalHandle>(null);
  const [query, setQuery] = useState('');
  const [found, setFound] = useState<boolean | null>(null);
  useEffect(() => {
    if (!visible) return;
    return followLog((text) => terminal.current?.write(text));
  }, [visible]);
  if (!visible) return null;

  const find = (direction: 'next' | 'previous') => query && setFound(terminal.current?.search(query, direction) ?? false);
  return (
    <div className="build-log">
      <form
        className="row log-search"
        onSubmit={(e) => {
          e.preventDefault();
          find('next');
        }}
      >
        <input aria-label="Search the build output" placeholder="Search the output" value={query} onChange={(e) => (setQuery(e.target.value), setFound(null))} />
        <button type="button" onClick={() => find('previous')} aria-label="Previous match">
          ↑
        </button>
        <button type="submit" aria-label="Next match">
          ↓
        </button>
        {found === false && <span className="muted small">not found</span>}
      </form>
      <Terminal ref={terminal} label="build" rows={18} />
    </div>
  );
}
