import { EmptyState } from '../../components/EmptyState';

export function ServersPage() {
  return (
    <EmptyState title="No servers yet">
      <p>Berth deploys to your own Linux servers over SSH. Each needs Docker and an account you can log in to with a key.</p>
      <p>Register at least two servers so your model stays up when one dies, then put them in a group such as “prod”.</p>
    </EmptyState>
  );
}
