import { useEffect, useState } from 'react';
import { formatTime } from './format';
import { useAccess } from './store';

/** Deploy locks held on any server: who holds them, since when and why; admins may break a stale one. */
export function LocksPanel() {
  const { locks, loadLocks, breakLock, busy } = useAccess();
  const [confirming, setConfirming] = useState<string | null>(null);
  useEffect(() => void loadLocks(), [loadLocks]);

  const models = [...new Set(locks?.locks.map((l) => l.model) ?? [])];
  return (
    <div className="locks-panel">
      <div className="row">
        <p className="muted">A deploy takes its model’s lock on every server of the group, so two people never deploy the same model at once.</p>
        <span className="spacer" />
        <button onClick={() => void loadLocks()} disabled={busy}>
          Refresh
        </button>
      </div>
      {locks?.errors.map((e) => (
        <p key={e.serverId} className="warn small">
          {e.server}: not checked ({e.error})
        </p>
      ))}
      {locks && models.length === 0 && <p className="muted">No deploy locks are held.</p>}
      {models.map((model) => {
        const held = locks!.locks.filter((l) => l.model === model);
        const first = held[0];
        return (
          <section key={model} className="card" data-lock={model}>
            <div className="row">
              <h2>{model}</h2>
              <span className="spacer" />
              {confirming === model ? (
                <>
                  <button className="danger" disabled={busy} onClick={() => void breakLock(model).then(() => setConfirming(null))}>
                    Confirm: break the lock
                  </button>
                  <button className="link" onClick={() => setConfirming(null)}>
                    Cancel
                  </button>
                </>
              ) : (
                <button onClick={() => setConfirming(model)}>Break lock</button>
              )}
            </div>
            <p>
              Held by <strong>{first.holder ?? 'someone unknown'}</strong>@{first.machine ?? '?'} since {formatTime(first.since)}
              {first.message && <> — “{first.message}”</>}
            </p>
            <p className="muted small">On {held.map((l) => l.server).join(', ')}. Only break a lock whose deploy is known to be dead: the break is audited.</p>
          </section>
        );
      })}
    </div>
  );
}
