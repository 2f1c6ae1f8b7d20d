import { useEffect, useRef, useState } from 'react';
import type { BuildPhase, PreparedBuild } from '../../../../shared/build';
import type { BuildChoice, BuildOn } from '../../../../shared/build-on';
import type { BerthError } from '../../../../shared/errors';
import { ErrorBanner } from '../../components/ErrorBanner';
import { Terminal, type TerminalHandle } from '../../components/Terminal';
import { formatBytes } from '../servers/format';
import { useApp } from '../app/store';
import { builtFromOlderNotebook, followLog, placementOf, useBuild, useBuildPlacement } from './build-store';
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

/** Where the project's build runs, by the user's choice for this build (else Settings'); undefined without a group in berth.toml. */
function usePlacement(path: string, group: string | undefined) {
  const facts = useBuildPlacement((s) => s.facts);
  const choice = useBuildPlacement((s) => s.choices[path]);
  return group && facts ? placementOf(facts, group, choice) : undefined;
}

/** Why the build cannot run where it is to run, or null when it can. */
function placeBlockReason(group: string | undefined, placement: ReturnType<typeof usePlacement>, error: BerthError | undefined): string | null {
  if (!group) return null;
  if (error) return `Berth cannot tell where to build: ${error.message}`;
  if (!placement) return 'Finding where to build…';
  return 'refusal' in placement.plan ? placement.plan.refusal : null;
}

/** Whether the project can be built now (and why not), and the action that builds it. */
export function useBuildGate(path: string) {
  const { prepared, preparing, options, save } = usePackaging();
  const build = useBuild();
  const engine = useApp((s) => s.status?.engine);
  const dirty = usePackaging((s) => Object.keys(s.drafts[path] ?? {}).length > 0);
  const group = prepared?.analysis.projectFile?.group.name;
  const placement = usePlacement(path, group);
  const placeError = useBuildPlacement((s) => s.error);
  const ours = build.path === path;
  const running = build.status === 'running';
  const placeReason = placeBlockReason(group, placement, placeError);
  const reason = running && !ours ? `Another project is building (${build.path}).` : (blockReason(prepared, preparing, engine) ?? placeReason);

  async function start() {
    // A build uses the saved edits; save what is in the editors first so the build is what the user sees.
    if (!(await save())) return;
    if (!group) return build.start(path, options[path]);
    // Decided on fresh facts; a choice that cannot be honoured builds nowhere (the gate now says why).
    const facts = await useBuildPlacement.getState().refresh();
    if (!facts) return;
    const { group: target, plan } = placementOf(facts, group, useBuildPlacement.getState().choices[path]);
    if (!('refusal' in plan)) build.start(path, options[path], target.platform ?? undefined, plan.place);
  }
  return { reason, running, ours, dirty, blocked: Boolean(prepared?.blocking.length) || Boolean(placement && 'refusal' in placement.plan), start };
}

/** The "Build on" choice for this build, with Berth's proposal and its reason. */
function BuildPlaceField({ path, group }: { path: string; group: string }) {
  const placement = usePlacement(path, group);
  const choose = useBuildPlacement((s) => s.choose);
  if (!placement) return null;
  const { group: target, chosen, proposal, serverName } = placement;
  const value = choiceValue(chosen, target.serverIds);
  const stray = typeof chosen === 'object' && !target.serverIds.includes(chosen.serverId) ? chosen.serverId : undefined;
  return (
    <div className="row wrap" data-testid="build-on">
      <label className="row">
        Build on
        <select aria-label="Build on" value={value} onChange={(e) => choose(path, choiceOf(e.target.value))}>
          <option value="auto">Proposed: {'refusal' in proposal ? 'none' : proposal.where}</option>
          <option value="local">This computer</option>
          {target.serverIds.map((id) => (
            <option key={id} value={`server:${id}`}>
              {serverName(id)}
            </option>
          ))}
          {target.serverIds.length === 0 && <option value="server">A server of group {target.name} (it has none)</option>}
          {stray !== undefined && <option value={`server:${stray}`}>{serverName(stray)} (not in the group)</option>}
        </select>
      </label>
      <span className="muted small" data-testid="build-proposal">
        {'refusal' in proposal ? `No proposal: ${proposal.refusal}` : `Proposed: ${proposal.where} — ${proposal.reason}`}
      </span>
    </div>
  );
}

/** The select's value for a choice: Settings' "server" is the group's first server when it has one. */
function choiceValue(choice: BuildChoice, serverIds: number[]): string {
  if (typeof choice === 'object') return `server:${choice.serverId}`;
  if (choice === 'server' && serverIds.length) return `server:${serverIds[0]}`;
  return choice;
}

function choiceOf(value: string): BuildChoice {
  return value.startsWith('server:') ? { serverId: Number(value.slice('server:'.length)) } : (value as BuildOn);
}

export function BuildPanel({ path }: { path: string }) {
  const build = useBuild();
  const { reason, running, ours, dirty, blocked, start } = useBuildGate(path);
  const elapsed = useElapsed(ours ? build.startedAt : undefined, build.finishedAt);
  const last = build.histories[path]?.[0];
  const analysis = usePackaging((s) => s.prepared?.analysis);
  const group = analysis?.projectFile?.group.name;
  const refreshPlacement = useBuildPlacement((s) => s.refresh);
  useEffect(() => {
    if (group) void refreshPlacement();
  }, [path, group, refreshPlacement]);

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
      {group && <BuildPlaceField path={path} group={group} />}
      {reason && !(running && ours) && (
        <p className={blocked ? 'bad' : 'muted'} data-testid="build-blocked-reason">
          {reason}
        </p>
      )}
      {!ours && !last && !reason && (
        <p className="muted">
          Builds the image from the Dockerfile above, then starts it once and sends it the notebook’s sample (the smoke test).
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
          {analysis && builtFromOlderNotebook(last, analysis) && (
            <span className="warn" data-testid="last-build-stale">
              {' '}
              · older than the notebook: it changed since this build
            </span>
          )}
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
          {build.pull && build.status === 'running' && <PullBar pull={build.pull} />}
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

/** The base image's download, while the build's FROM pulls it (only an engine without the image pulls). */
function PullBar({ pull }: { pull: { currentBytes: number; totalBytes: number; layers: number } }) {
  const done = pull.totalBytes > 0 && pull.currentBytes >= pull.totalBytes;
  return (
    <div className="progress" data-testid="pull-progress">
      <div style={{ width: `${pull.totalBytes ? Math.min(100, (100 * pull.currentBytes) / pull.totalBytes) : 0}%` }} />
      <span className="small">
        {done ? 'Base image pulled' : 'Pulling the base image'}: {formatBytes(pull.currentBytes)} / {formatBytes(pull.totalBytes)} ({pull.layers} layer{pull.layers === 1 ? '' : 's'})
      </span>
    </div>
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
