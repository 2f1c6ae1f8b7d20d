import { useEffect, useState } from 'react';
import type { Settings } from '../../../../shared/types';
import { ErrorBanner } from '../../components/ErrorBanner';
import { useSettings } from './store';

export function SettingsPage() {
  const { settings, error, saved, update } = useSettings();
  const [draft, setDraft] = useState<Settings | undefined>(settings);
  useEffect(() => setDraft(settings), [settings]);
  if (!draft) return <p className="muted">Loading settings…</p>;

  const field = (key: 'baseImage' | 'dockerSocket' | 'gatewayBuilderImage') => ({
    value: draft[key],
    onChange: (e: React.ChangeEvent<HTMLInputElement>) => setDraft({ ...draft, [key]: e.target.value }),
  });
  const number = (key: 'inferenceRetentionDays' | 'inferenceMaxRows', min: number, max: number) => ({
    type: 'number',
    min,
    max,
    step: 1,
    value: draft[key],
    onChange: (e: React.ChangeEvent<HTMLInputElement>) => setDraft({ ...draft, [key]: e.target.valueAsNumber }),
  });

  return (
    <div className="settings">
      <h1>Settings</h1>
      <ErrorBanner error={error} />
      <form
        className="form"
        onSubmit={(e) => {
          e.preventDefault();
          void update(draft);
        }}
      >
        <label>
          Theme
          <select
            aria-label="Theme"
            value={draft.theme}
            onChange={(e) => void update({ theme: e.target.value as Settings['theme'] })}
          >
            <option value="system">Follow the system</option>
            <option value="dark">Dark</option>
            <option value="light">Light</option>
          </select>
        </label>
        <label>
          Base image for model containers
          <input aria-label="Base image" {...field('baseImage')} />
          <small>{'{python}'} becomes the project's Python version, e.g. python:3.11-slim.</small>
        </label>
        <label>
          Builder image for the gateway
          <input aria-label="Gateway builder image" {...field('gatewayBuilderImage')} />
          <small>Used only when this machine has no Go toolchain; the gateway itself runs from an empty (scratch) image.</small>
        </label>
        <label>
          Build a deploy's image
          <select aria-label="Build on" value={draft.buildOn} onChange={(e) => void update({ buildOn: e.target.value as Settings['buildOn'] })}>
            <option value="auto">Automatically: here when this engine has the group's platform, else on a server of the group</option>
            <option value="local">On this computer</option>
            <option value="server">On a server of the group (only the build context leaves this computer)</option>
          </select>
        </label>
        <label>
          Local Docker engine socket
          <input aria-label="Docker socket" {...field('dockerSocket')} />
        </label>
        <label>
          Keep inference records for (days)
          <input aria-label="Inference retention days" {...number('inferenceRetentionDays', 1, 3650)} />
          <small>Older requests are deleted from the records on this computer.</small>
        </label>
        <label>
          Keep at most (inference records)
          <input aria-label="Inference records kept" {...number('inferenceMaxRows', 10_000, 100_000_000)} />
          <small>Beyond it the oldest go first. Both limits apply after each pull of the servers' logs.</small>
        </label>
        <div className="row">
          <button type="submit" className="primary">
            Save
          </button>
          {saved && <span className="ok">Saved</span>}
        </div>
      </form>
      {settings?.checklistDismissed && (
        <button onClick={() => void update({ checklistDismissed: false })}>Show the first-run checklist</button>
      )}
    </div>
  );
}
