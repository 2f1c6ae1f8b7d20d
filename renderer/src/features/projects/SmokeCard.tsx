import type { BuildRecord, SmokeResult } from '../../../../shared/build';
import { useApp } from '../app/store';
import { useDeployments } from '../deployments/store';
import { useBuild } from './build-store';
import { formatDuration, formatJson } from './format';
import { Ticks } from './Ticks';

/**
 * The smoke test of the project's latest build and the deploy gate: only a build whose smoke test passed may be
 * deployed, so a failed or skipped test (or a failed build) visibly blocks it.
 */
export function SmokeCard({ path }: { path: string }) {
  const build = useBuild();
  const go = useApp((s) => s.go);
  const offer = useDeployments((s) => s.offer);
  const ours = build.path === path;
  const history = build.histories[path] ?? [];
  const record: BuildRecord | undefined = history[0];

  if (ours && build.status === 'running') {
    return (
      <section className="card" aria-label="Smoke test" data-testid="smoke">
        <h2>Smoke test</h2>
        <p className="muted">{build.phase === 'smoke' ? 'Running: the container is starting and will be sent the notebook’s sample…' : 'Runs when the image is built.'}</p>
      </section>
    );
  }
  // This session's build of the project when there is one, else the last recorded build.
  const session = ours && build.status !== 'idle';
  const sessionRecord = session ? history.find((r) => r.id === build.result?.buildId) : undefined;
  if (!session && !record) return null;
  const smoke = session ? (build.smoke ?? null) : (record?.smoke ?? null);
  const buildFailed = session ? !build.result : record?.status !== 'succeeded';
  const imageTag = session ? build.result?.imageTag : record?.imageTag;
  const buildId = session ? build.result?.buildId : record?.id;
  const deployable = !buildFailed && smoke?.status === 'passed' && ((session ? sessionRecord : record)?.deployable ?? true);

  return (
    <section className="card" aria-label="Smoke test" data-testid="smoke" data-status={smoke?.status ?? 'none'}>
      <h2>Smoke test</h2>
      {smoke ? <SmokeDetails smoke={smoke} /> : <p className="muted">{buildFailed ? 'Not run: the build did not finish.' : 'Not run.'}</p>}
      <div className={deployable ? 'deploy-gate open' : 'deploy-gate blocked'} data-testid="deploy-gate">
        {deployable ? (
          <>
            <span className="ok">✓ Ready to deploy</span>
            {imageTag && <span className="mono small">{imageTag}</span>}
            <span className="spacer" />
            <button
              className="primary"
              data-testid="deploy-build"
              onClick={() => {
                // The deploy panel offers this build (and this model's timeline), not the newest of any project.
                if (buildId !== undefined) offer(buildId);
                go('deployments');
              }}
            >
              Deploy…
            </button>
          </>
        ) : (
          <>
            <span className="bad">
              ✗ Deploy blocked:{' '}
              {buildFailed
                ? 'the build did not succeed.'
                : smoke?.status === 'failed'
                  ? 'the image did not answer like the notebook. Fix the notebook or the Dockerfile and build again.'
                  : smoke?.status === 'skipped'
                    ? 'nothing proves the image answers like the notebook. Tag a cell holding an example input sample-input and build again.'
                    : 'the smoke test did not run.'}
            </span>
            <span className="spacer" />
            <button disabled title="Only a build that passed its smoke test can be deployed">
              Deploy…
            </button>
          </>
        )}
      </div>
    </section>
  );
}

function SmokeDetails({ smoke }: { smoke: SmokeResult }) {
  if (smoke.status === 'passed') {
    return (
      <>
        <p>
          <span className="pill up">passed</span> <span className="muted">container ready in {formatDuration(smoke.readyMs)} · whole test {formatDuration(smoke.durationMs)}</span>
        </p>
        <div className="io">
          <div>
            <h3>Input (the notebook’s sample)</h3>
            <pre className="snippet" data-testid="smoke-input">{formatJson(smoke.input)}</pre>
          </div>
          <div>
            <h3>Output of /predict</h3>
            <pre className="snippet" data-testid="smoke-output">{formatJson(smoke.output)}</pre>
          </div>
        </div>
      </>
    );
  }
  if (smoke.status === 'skipped') {
    return (
      <p>
        <span className="pill warn-pill">skipped</span> <Ticks text={smoke.reason} />
      </p>
    );
  }
  return (
    <>
      <p>
        <span className="pill down">failed</span> <span data-testid="smoke-reason">
          <Ticks text={smoke.reason} />
        </span>
      </p>
      {smoke.differences.length > 0 && (
        <>
          <h3>Expected (the notebook) vs. actual (the container)</h3>
          <table className="table" data-testid="smoke-differences">
            <thead>
              <tr>
                <th>Where</th>
                <th>Expected</th>
                <th>Actual</th>
                <th>Why</th>
              </tr>
            </thead>
            <tbody>
              {smoke.differences.map((d, i) => (
                <tr key={i}>
                  <td className="mono">{d.path}</td>
                  <td className="mono">{d.expected === undefined ? '—' : formatJson(d.expected)}</td>
                  <td className="mono">{d.actual === undefined ? '—' : formatJson(d.actual)}</td>
                  <td>{d.reason}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </>
      )}
      <h3>Container log</h3>
      <pre className="snippet log-tail" data-testid="smoke-log">{smoke.logTail || '(the container wrote nothing)'}</pre>
    </>
  );
}
