import { EmptyState } from '../../components/EmptyState';

export function LogsPage() {
  return (
    <EmptyState title="No logs to follow">
      <p>Once a version runs on your servers, follow its replicas live here and search every request it served.</p>
    </EmptyState>
  );
}
