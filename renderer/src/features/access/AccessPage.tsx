import { EmptyState } from '../../components/EmptyState';

export function AccessPage() {
  return (
    <EmptyState title="No API keys or team members">
      <p>Endpoints are private by default: create an API key for each client that calls your model.</p>
      <p>Add team members with a role (viewer, deployer, admin); Berth enforces it on every server.</p>
    </EmptyState>
  );
}
