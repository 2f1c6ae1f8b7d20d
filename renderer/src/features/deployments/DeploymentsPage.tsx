import { EmptyState } from '../../components/EmptyState';

export function DeploymentsPage() {
  return (
    <EmptyState title="Nothing deployed yet">
      <p>Build a project on the Projects page, register servers, then deploy a version to a server group.</p>
      <p>Every version appears here on a timeline, with its URLs and a rollback button.</p>
    </EmptyState>
  );
}
