import { useEffect, useState } from 'react';
import { useDeployments } from './store';

/** One-click deploy: a smoke-tested build, a server group, replicas and limits. */
export function DeployPanel() {
  const { builds, groups, running, deploy } = useDeployments();
  const [buildId, setBuildId] = useState<number | undefined>(builds[0]?.id);
  const [group, setGroup] = useState(groups[0]?.name ?? '');
  const [memoryMb, setMemoryMb] = useState('1024');
  const [message, setMessage] = useState('');
  useEffect(() => setBuildId((id) => id ?? builds[0]?.id), [builds]);
  useEffect(() => setGroup((g) => g || groups[0]?.name || ''), [groups]);

  if (builds.length === 0 || groups.length === 0) {
    return (
      <section className="card">
        <h2>Deploy</h2>
        <p className="muted">
          {builds.length === 0 ? 'Build and smoke-test a project on the Projects page first. ' : ''}
          {groups.length === 0 ? 'Create a server group on the Servers page first.' : ''}
        </p>
      </section>
    );
  }
  const selectedGroup = groups.find((g) => g.name === group);

  return (
    <section className="card" aria-label="Deploy">
      <h2>Deploy</h2>
      <form
        className="row wrap"
        onSubmit={(e) => {
          e.preventDefault();
          if (buildId) deploy({ buildId, group, memoryMb: Number(memoryMb), message });
        }}
      >
        <label className="row">
          Build
          <select aria-label="Build" value={buildId} onChange={(e) => setBuildId(Number(e.target.value))}>
            {builds.map((b) => (
              <option key={b.id} value={b.id}>
                {b.imageTag} · {new Date(b.createdAt).toLocaleString()}
              </option>
            ))}
          </select>
        </label>
        <label className="row">
          Group
          <select aria-label="Group" value={group} onChange={(e) => setGroup(e.target.value)}>
            {groups.map((g) => (
              <option key={g.id} value={g.name}>
                {g.name} ({g.serverIds.length} servers × {g.replicas})
              </option>
            ))}
          </select>
        </label>
        <label className="row">
          Memory (MiB)
          <input aria-label="Memory limit" className="narrow" value={memoryMb} onChange={(e) => setMemoryMb(e.target.value)} />
        </label>
        <input aria-label="Deploy message" placeholder="What changed (optional)" value={message} onChange={(e) => setMessage(e.target.value)} />
        <button type="submit" className="primary" disabled={running || !selectedGroup?.serverIds.length}>
          {running ? 'Deploying…' : `Deploy to ${group}`}
        </button>
      </form>
    </section>
  );
}
