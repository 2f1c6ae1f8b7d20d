import type { PreparedBuild } from '../../../../shared/build';
import { EditableFilePanel } from './EditableFilePanel';

export function DockerfilePanel({ prepared }: { prepared: PreparedBuild }) {
  return (
    <section className="card" aria-label="Dockerfile" data-testid="dockerfile">
      <div className="row">
        <h2>Dockerfile</h2>
        <span className="muted small">
          starts from <span className="mono">{prepared.baseImage}</span> · edit freely: Berth keeps your edits for this project
        </span>
      </div>
      <EditableFilePanel state={prepared.dockerfile} language="dockerfile" height={440} />
    </section>
  );
}
