import { BerthError } from '../../../../shared/errors';
import { DeployBuildRequest, type DeployEvent, type ModelView } from '../../../../shared/deploy';
import type { BuildService } from '../build/service';
import type { EngineService } from '../build/engine';
import type { ServerRegistry } from '../servers/registry';
import type { ServersService } from '../servers/service';
import type { GroupStateService } from '../groups/service';
import type { Db } from '../store/database';
import { asImageSender, createImageTransport } from '../transport/image-transport';
import type { GatewayImageSource } from '../gateway/local';
import { createGatewayManager } from './gateway-manager';
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
}

/** What the contract exposes of deploys: smoke-tested builds to groups, the timeline, aliases, start/stop. */
export function createDeployService(deps: DeployServiceDeps) {
  const store = createDeployStore(deps.db);
  const connection = (serverId: number) => deps.servers.connection(serverId);
  const transport = createImageTransport({ docker: deps.engine.client(), connection });
  const images = asImageSender(transport);
  const gateway = createGatewayManager({ local: deps.gatewayImage, images, connection, port: GATEWAY_PORT, agentLayout: deps.agentLayout });
  const orchestrator = createOrchestrator({
    store,
    registry: deps.registry,
    connection,
    images,
    gateway,
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
  };
}
export type DeployService = ReturnType<typeof createDeployService>;
