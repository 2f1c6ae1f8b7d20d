import { useEffect } from 'react';
import { EmptyState } from '../../components/EmptyState';
import { ErrorBanner } from '../../components/ErrorBanner';
import { DeployPanel } from './DeployPanel';
import { EndpointPanel } from './EndpointPanel';
import { ProgressPanel } from './ProgressPanel';
import { Timeline } from './Timeline';
import { useDeployments } from './store';

export function DeploymentsPage() {
  const { models, selected, error, notice, builds, load, select, dismiss } = useDeployments();
  useEffect(() => void load(), [load]);

  return (
    <div className="deployments">
      <div className="row">
        <h1>Deployments</h1>
        <span className="spacer" />
        {models.length > 0 && (
          <select aria-label="Model" value={selected} onChange={(e) => void select(e.target.value)}>
            {models.map((m) => (
              <option key={m}>{m}</option>
            ))}
          </select>
        )}
      </div>
      <ErrorBanner error={error} onDismiss={dismiss} />
      {notice && (
        <div className="notice" role="status" data-testid="deploy-notice">
          {notice}
        </div>
      )}
      {models.length === 0 && builds.length === 0 ? (
        <EmptyState title="Nothing deployed yet">
          <p>Build a project on the Projects page, register servers, then deploy a version to a server group.</p>
          <p>Every version appears here on a timeline, with its URLs and a rollback button.</p>
        </EmptyState>
      ) : (
        <>
          <DeployPanel />
          <ProgressPanel />
          <EndpointPanel />
          <Timeline />
        </>
      )}
    </div>
  );
}
