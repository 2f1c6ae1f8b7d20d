import { BerthError } from '../../../../shared/errors';
import { platformOfArch } from '../../../../shared/platform';
import { DeployBuildRequest, type DeployEvent, type ModelView } from '../../../../shared/deploy';
import { DEFAULT_REQUEST_LOG } from '../../../../shared/group-state';
import type { ListenMode } from '../../../../shared/tls';
import type { BuildService } from '../build/service';
import type { EngineService } from '../build/engine';
import type { ServerRegistry } from '../servers/registry';
import type { ServersService } from '../servers/service';
import type { GroupStateService } from '../groups/service';
import type { Db } from '../store/database';
import { asImageSender, createImageTransport } from '../transport/image-transport';
import { withHeldImages } from '../transport/held-images';
import type { GatewayImageSource } from '../gateway/local';
import { addressToListenOn, createGatewayManager } from './gateway-manager';
import { GATEWAY_PORT, type ServerLayout } from '../remote/layout';
import { createOrchestrator, type AuditRecorder } from './orchestrator';
import { createDeployStore } from './store';
import { modelView } from './views';

export interface DeployServiceDeps {
  db: Db;
  engine: EngineService;
  servers: ServersService;
  registry: ServerRegistry;
  builds: Pick<BuildService, 'get'>;
  /** The locally built gateway image (also the agent's, and berth-shell's binary). */
  gatewayImage: GatewayImageSource;
  groups: GroupStateService;
  actor(): string;
  audit?: AuditRecorder;
  /** Where the server agent runs; null: none (see agentLayoutFromEnv). */
  agentLayout: ServerLayout | null;
  /** Issues or renews an HTTPS group's server certificates (services/tls), before its gateways start. */
  certificates(group: string, serverIds: number[]): Promise<unknown>;
}

/** What the contract exposes of deploys: smoke-tested builds to groups, the timeline, aliases, start/stop. */
export function createDeployService(deps: DeployServiceDeps) {
  const store = createDeployStore(deps.db);
  const connection = (serverId: number) => deps.servers.connection(serverId);
  const transport = createImageTransport({ docker: deps.engine.client(), connection });
  // An image the local engine lacks may be on a server (a remote build's): it then goes server to server.
  const images = withHeldImages(asImageSender(transport), {
    connection,
    servers: () => deps.registry.list().map((s) => s.id),
    copyTarget: (id) => {
      const row = deps.registry.get(id);
      return { host: row.host, port: row.port, username: row.username, hostKeyFingerprint: row.host_key_fingerprint };
    },
    loadLocal: async (archive) => {
      const client = deps.engine.client();
      const progress = await client.loadImage(archive);
      await new Promise<void>((resolve, reject) => client.modem.followProgress(progress, (err: Error | null) => (err ? reject(err) : resolve())));
    },
  });
  // From the servers' facts, read once a minute at most: a deploy checks them, then picks each server's gateway.
  const platformOf = async (serverId: number) => platformOfArch((await deps.servers.facts(serverId)).arch);
  const gpusOf = async (serverId: number) => (await deps.servers.facts(serverId)).gpus.length;
  const gateway = createGatewayManager({
    local: deps.gatewayImage,
    images,
    connection,
    platformOf,
    port: GATEWAY_PORT,
    agentLayout: deps.agentLayout,
    registry: deps.registry,
    certificates: deps.certificates,
  });

  /** Changes where the group's gateways listen, then restarts each one that listens elsewhere (one server at a time). */
  async function setListen(group: string, listen: ListenMode) {
    if (listen === 'host') for (const id of deps.registry.group(group).serverIds) addressToListenOn(deps.registry.get(id));
    const commit = await deps.groups.change(group, listen === 'host' ? 'gateways listen on their server’s address only' : 'gateways listen on every interface', (state) => {
      state.settings.listen = listen;
    });
    await gateway.ensure(deps.registry.group(group).serverIds, commit.file.revision.state.settings.requestLog ?? DEFAULT_REQUEST_LOG);
    return deps.registry.group(group);
  }
  const orchestrator = createOrchestrator({
    store,
    registry: deps.registry,
    connection,
    images,
    gateway,
    platformOf,
    gpusOf,
    groups: deps.groups,
    actor: deps.actor,
    audit: deps.audit,
  });

  const view = (model: string): Promise<ModelView> => modelView(store, deps.registry, connection, model);

  /** Only a build whose smoke test passed may be deployed; its record gives the model name and provenance. */
  async function deployBuild(input: DeployBuildRequest, emit: (e: DeployEvent) => void, signal: AbortSignal): Promise<void> {
    const { buildId, ...request } = DeployBuildRequest.parse(input);
    const build = deps.builds.get(buildId);
    if (!build) throw new BerthError('NotFound', `Build #${buildId} does not exist`);
    if (!build.deployable || !build.imageTag) {
      throw new BerthError(
        'SmokeTestFailed',
        `Build #${buildId} cannot be deployed: ${build.smoke?.status === 'skipped' ? build.smoke.reason : 'its build or smoke test did not pass'}`,
      );
    }
    await orchestrator.deploy(
      {
        ...request,
        model: build.project,
        imageRef: build.imageTag,
        projectPath: build.projectPath,
        notebookHash: build.notebookHash,
        dockerfile: build.dockerfile,
        requirements: build.requirements,
      },
      emit,
      signal,
    );
  }

  return {
    store,
    orchestrator,
    transport,
    deployBuild,
    models: () => store.models().map((m) => m.name),
    model: view,
    rollback: async (model: string, version: number, emit: (e: DeployEvent) => void) => void (await orchestrator.rollback(model, version, emit)),
    setAlias: async (model: string, alias: string, version: number) => (await orchestrator.setAlias(model, alias, version), view(model)),
    stopVersion: async (model: string, version: number) => (await orchestrator.stopVersion(model, version), view(model)),
    startVersion: async (model: string, version: number) => (await orchestrator.startVersion(model, version), view(model)),
    setListen,
  };
}
export type DeployService = ReturnType<typeof createDeployService>;
