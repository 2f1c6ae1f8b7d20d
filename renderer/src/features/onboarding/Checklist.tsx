import { useEffect, type ReactNode } from 'react';
import { useApp } from '../app/store';
import { Ticks } from '../projects/Ticks';
import { useSettings } from '../settings/store';
import { stepIds, useOnboarding, type Step, type StepId } from './store';

const titles: Record<StepId, string> = {
  engine: 'Docker engine found',
  baseImage: 'Base image available',
  target: 'A target to deploy to',
  example: 'The example, deployed',
};

const stateLabels: Record<Step['state'], { text: string; pill: string }> = {
  checking: { text: 'checking', pill: 'unknown' },
  done: { text: 'done', pill: 'up' },
  todo: { text: 'to\u00a0do', pill: 'unknown' },
  problem: { text: 'problem', pill: 'down' },
};

/** The first-run checklist: from a fresh install to a first live endpoint. Skipped once, it comes back from Settings. */
export function Checklist() {
  const dismissed = useSettings((s) => s.settings?.checklistDismissed ?? true);
  const update = useSettings((s) => s.update);
  const { steps, check } = useOnboarding();
  const page = useApp((s) => s.page);

  // Builds and deploys happen on the other pages: each page change may have finished a step.
  useEffect(() => {
    if (!dismissed) void check();
  }, [dismissed, page, check]);
  if (dismissed) return null;

  const finished = stepIds.every((id) => steps[id].state === 'done');
  return (
    <section className="card" data-testid="checklist" aria-label="First-run checklist">
      <div className="row wrap">
        <h2>{finished ? 'All set: your first endpoint is live' : 'From here to a working endpoint'}</h2>
        <span className="spacer" />
        <button onClick={() => void check()}>Check again</button>
        <button onClick={() => void update({ checklistDismissed: true })}>{finished ? 'Close' : 'Skip'}</button>
      </div>
      <ol className="list">
        {stepIds.map((id) => (
          <li key={id} className="list-row" data-testid={`checklist-${id}`} data-state={steps[id].state}>
            <span className={`pill ${stateLabels[steps[id].state].pill}`}>{stateLabels[steps[id].state].text}</span>
            <div>
              <strong>{titles[id]}</strong>
              <div className="muted">
                <Ticks text={steps[id].detail} />
              </div>
            </div>
            <span className="spacer" />
            {steps[id].state !== 'done' && <StepActions id={id} />}
          </li>
        ))}
      </ol>
    </section>
  );
}

/** The buttons that fix a step that is not done. */
function StepActions({ id }: { id: StepId }) {
  const { busy, useThisComputer, openExample } = useOnboarding();
  const go = useApp((s) => s.go);
  const action = (label: string, run: () => unknown): ReactNode => (
    <button key={label} disabled={busy !== undefined} onClick={() => void run()}>
      {label}
    </button>
  );
  const working = busy === id && <span className="muted">Working…</span>;
  if (id === 'target') {
    return (
      <div className="row" style={{ whiteSpace: 'nowrap' }}>
        {working}
        {action('Use this computer', useThisComputer)}
        {action('Add a server', () => go('servers'))}
        {action('Import from ~/.ssh/config', () => go('servers'))}
      </div>
    );
  }
  if (id === 'example') {
    return (
      <div className="row" style={{ whiteSpace: 'nowrap' }}>
        {working}
        {action('Open the example project', openExample)}
      </div>
    );
  }
  return null;
}
