import type { ModelView, VersionView } from '../../../../shared/deploy';
import { docker } from '../remote/command';
import { GATEWAY_PORT } from '../remote/layout';
import type { ServerRegistry } from '../servers/registry';
import type { SshConnection } from '../transport/ssh';
import type { DeployStore } from './store';

/** Berth's images on a server as berth-shell's `images` prints them: one JSON object per line. */
const listImages = () => docker('image', 'ls', '--no-trunc', '--filter', 'reference=berth/*', '--format', '{{json .}}').asVerb(['images']);

/** Berth's image references present on a server, one round trip. */
export async function imagesOn(ssh: SshConnection): Promise<Set<string>> {
  const out = await ssh.run(listImages(), { timeoutMs: 10_000 });
  const refs = out.split('\n').filter(Boolean).map((line) => JSON.parse(line) as { Repository: string; Tag: string });
  return new Set(refs.map((r) => `${r.Repository}:${r.Tag}`));
}

/** What the Deployments page shows for one model: its timeline, where each version runs, its URLs. */
export async function modelView(
  store: DeployStore,
  registry: ServerRegistry,
  connection: (serverId: number) => Promise<SshConnection>,
  name: string,
): Promise<ModelView> {
  const model = store.model(name);
  const aliases = store.aliases(model.id);
  const versions = store.versions(model.id);
  const serverIds = new Set(versions.flatMap((v) => store.placements(v.id).map((p) => p.serverId)));
  const images = new Map<number, Set<string> | null>();
  await Promise.all([...serverIds].map(async (id) => images.set(id, await connection(id).then(imagesOn, () => null))));

  const versionViews: VersionView[] = versions.map((v) => {
    const placements = store.placements(v.id);
    return {
      id: v.id,
      number: v.number,
      imageRef: v.image_ref,
      imageId: v.image_id,
      notebookHash: v.notebook_hash,
      dockerfile: v.dockerfile,
      requirements: v.requirements,
      createdBy: v.created_by,
      createdAt: v.created_at,
      message: v.message,
      state: v.state,
      aliases: aliases.filter((a) => a.version_id === v.id).map((a) => a.alias),
      servers: placements.map((p) => ({ serverId: p.serverId, server: registry.get(p.serverId).name, replicas: p.replicas })),
      imageMissingOn: placements.filter((p) => !images.get(p.serverId)?.has(v.image_ref)).map((p) => registry.get(p.serverId).name),
    };
  });
  const groups = [...new Set(versions.flatMap((v) => store.placements(v.id).map((p) => registry.group(p.groupId).name)))];
  // A model belongs to one group: its gateways' HTTPS setting is the endpoints' scheme.
  const group = groups.length ? registry.group(groups[0]) : null;
  const scheme = group?.tls === 'https' ? 'https' : 'http';
  return {
    name: model.name,
    public: model.public === 1,
    keepVersions: model.keep_versions,
    groups,
    versions: versionViews,
    operations: store.operations(model.id, 30).map((op) => ({
      id: op.id,
      kind: op.kind,
      version: op.version_id === null ? null : store.version(op.version_id).number,
      actor: op.actor,
      state: op.state,
      error: op.error,
      startedAt: op.started_at,
      finishedAt: op.finished_at,
    })),
    endpoints: [...serverIds].map((id) => {
      const server = registry.get(id);
      return { server: server.name, baseUrl: `${scheme}://${server.host}:${GATEWAY_PORT}/${model.name}` };
    }),
    tls: group ? { group: group.name, mode: group.tls, authority: group.authority?.certificate ?? null } : null,
  };
}
