import { useEffect, useState } from 'react';
import { gpuRequestOf, type ProjectFile } from '../../../../shared/project-file';
import type { GroupView } from '../../../../shared/servers';
import { DeploymentFileStatus } from './DeploymentFileStatus';
import { useDeploymentFile, type DeploymentValues } from './deployment-file-store';
import { buildLabel, useDeployments } from './store';

/** The form's text fields; an empty replicas field means the group's default. */
interface FormValues {
  group: string;
  memoryMb: string;
  replicas: string;
  cpus: string;
  /** Empty or 0: none; a number: that many per replica; indexes with commas (or device=1): those GPUs. */
  gpus: string;
  readinessS: string;
}
const DEFAULTS = { memoryMb: '1024', replicas: '', cpus: '1', gpus: '', readinessS: '120' };

/** The GPU field as berth.toml says it; a wrong index is left for the contract to refuse, with its reason. */
function gpusOf(text: string): ProjectFile['gpus'] {
  const value = text.trim().replace(/^device=/, '');
  if (value === '') return 0;
  if (/^\d+$/.test(value) && !text.trim().startsWith('device=')) return Number(value);
  return value.split(',').map((gpu) => gpu.trim());
}

/** berth.toml's settings as the form shows them (its group only when this Berth has it). */
function formValuesOf(file: ProjectFile, groups: GroupView[]): Partial<FormValues> {
  return {
    ...(groups.some((g) => g.name === file.group.name) && { group: file.group.name }),
    memoryMb: String(file.memory_mb),
    replicas: file.replicas === undefined ? '' : String(file.replicas),
    cpus: String(file.cpus),
    gpus: file.gpus === 0 ? '' : typeof file.gpus === 'number' ? String(file.gpus) : file.gpus.length === 1 ? `device=${file.gpus[0]}` : file.gpus.join(','),
    readinessS: String(file.readiness_timeout_s),
  };
}

function deploymentValues(form: FormValues): DeploymentValues {
  const number = (text: string) => (text.trim() === '' ? undefined : Number(text));
  return {
    group: form.group,
    memoryMb: number(form.memoryMb),
    replicas: number(form.replicas),
    cpus: number(form.cpus),
    gpus: gpusOf(form.gpus),
    readinessTimeoutS: number(form.readinessS),
  };
}

/** One-click deploy: a smoke-tested build, a server group, replicas and limits, kept in the project's berth.toml. */
export function DeployPanel() {
  const { builds, buildId, chooseBuild, groups, running, deploy } = useDeployments();
  const deploymentFile = useDeploymentFile();
  const loadDeploymentFile = deploymentFile.load;
  const [form, setForm] = useState<FormValues>({ group: groups[0]?.name ?? '', ...DEFAULTS });
  const [message, setMessage] = useState('');
  const build = builds.find((b) => b.id === buildId);
  const projectPath = build?.projectPath;
  useEffect(() => setForm((f) => (f.group ? f : { ...f, group: groups[0]?.name ?? '' })), [groups]);
  useEffect(() => {
    if (projectPath) void loadDeploymentFile(projectPath);
  }, [projectPath, loadDeploymentFile]);
  // The project's berth.toml sets the form each time it is read (builds and groups are loaded by then).
  const projectFile = deploymentFile.path === projectPath ? deploymentFile.view?.projectFile : undefined;
  useEffect(() => {
    if (projectFile) setForm((f) => ({ ...f, ...formValuesOf(projectFile, groups) }));
  }, [projectFile]);

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
  const selectedGroup = groups.find((g) => g.name === form.group);
  const values = deploymentValues(form);
  const fileInvalid = deploymentFile.path === projectPath && deploymentFile.invalid !== undefined;
  const field = (name: keyof FormValues) => ({ value: form[name], onChange: (e: { target: { value: string } }) => setForm({ ...form, [name]: e.target.value }) });

  return (
    <section className="card" aria-label="Deploy">
      <h2>Deploy</h2>
      <form
        className="row wrap"
        onSubmit={(e) => {
          e.preventDefault();
          const { group, memoryMb, replicas, cpus, gpus, readinessTimeoutS } = values;
          if (buildId && !fileInvalid) {
            deploy({ buildId, group, memoryMb, replicas, cpus, gpus: gpuRequestOf(gpus ?? 0), readyTimeoutMs: readinessTimeoutS && readinessTimeoutS * 1000, message });
          }
        }}
      >
        <label className="row">
          Build
          <select aria-label="Build" value={buildId} onChange={(e) => chooseBuild(Number(e.target.value))}>
            {builds.map((b) => (
              <option key={b.id} value={b.id}>
                {buildLabel(b)}
              </option>
            ))}
          </select>
        </label>
        <label className="row">
          Group
          <select aria-label="Group" {...field('group')}>
            {groups.map((g) => (
              <option key={g.id} value={g.name}>
                {g.name} ({g.serverIds.length} server{g.serverIds.length === 1 ? '' : 's'} × {g.replicas})
              </option>
            ))}
          </select>
        </label>
        <label className="row">
          Memory (MiB)
          <input aria-label="Memory limit" className="narrow" {...field('memoryMb')} />
        </label>
        <label className="row">
          Replicas
          <input aria-label="Replicas per server" className="narrow" placeholder={String(selectedGroup?.replicas ?? '')} {...field('replicas')} />
        </label>
        <label className="row">
          CPUs
          <input aria-label="CPU limit" className="narrow" {...field('cpus')} />
        </label>
        <label className="row" title="GPUs per replica: a count (1), or GPU indexes (0,1; one: device=1). Each replica gets its own; empty: none">
          GPUs
          <input aria-label="GPUs per replica" className="narrow" placeholder="none" {...field('gpus')} />
        </label>
        <label className="row">
          Readiness (s)
          <input aria-label="Readiness timeout" className="narrow" {...field('readinessS')} />
        </label>
        <input aria-label="Deploy message" placeholder="What changed (optional)" value={message} onChange={(e) => setMessage(e.target.value)} />
        <button type="submit" className="primary" disabled={running || fileInvalid || !selectedGroup?.serverIds.length}>
          {running ? 'Deploying…' : `Deploy to ${form.group}`}
        </button>
      </form>
      {projectPath && <DeploymentFileStatus projectPath={projectPath} values={values} groups={groups.map((g) => g.name)} />}
    </section>
  );
}
