/**
 * The one description of what Berth keeps and runs on a server (docs/ARCHITECTURE.md): folders, the gateway's
 * container and port, container names and labels, and the model-name rule every remote path relies on.
 */
import { BerthError } from '../../../../shared/errors';

/** Model names are one URL path segment and one path component: lowercase letters, digits and inner dashes. */
export const MODEL_NAME = /^[a-z0-9]+(-[a-z0-9]+)*$/;
export const GROUP_NAME = /^[a-z0-9][a-z0-9-]{0,31}$/;

export const BERTH_DIR = '/var/lib/berth';
export const LIB_DIR = '/usr/local/lib/berth';
export const FIRST_REPLICA_PORT = 9100;
export const GATEWAY_PORT = 8700;
export const GATEWAY_CONTAINER = 'berth-gateway';
/** The server agent (docs/AGENT.md): the gateway's binary in agent mode, with its peer port on the servers' network. */
export const AGENT_CONTAINER = 'berth-agent';
export const AGENT_PORT = 8701;

/**
 * Where Berth's files live on a server. The defaults are the real layout; tests point berthDir and libDir at a
 * folder of their own so concurrent runs on the same servers do not share state.
 */
export interface ServerLayout {
  /** Berth's state: groups/, lock/, audit/, gateway/ below it. */
  berthDir: string;
  /** berth-shell and berth-audit-append. */
  libDir: string;
  /** The login account's authorized_keys, relative to its home unless absolute. */
  authorizedKeys: string;
}

export const defaultLayout: ServerLayout = { berthDir: BERTH_DIR, libDir: LIB_DIR, authorizedKeys: '.ssh/authorized_keys' };

const safePath = /^\/[A-Za-z0-9._/-]+$/;

/** Paths end up in shell commands and in authorized_keys `command=`: only plain absolute paths are accepted. */
export function checkLayout(layout: ServerLayout): ServerLayout {
  for (const [name, value] of Object.entries({ berthDir: layout.berthDir, libDir: layout.libDir })) {
    if (!safePath.test(value) || value.includes('..')) throw new Error(`Server layout ${name} "${value}" must be a plain absolute path`);
  }
  if (!/^[A-Za-z0-9._/-]+$/.test(layout.authorizedKeys) || layout.authorizedKeys.includes('..')) {
    throw new Error(`Server layout authorizedKeys "${layout.authorizedKeys}" must be a plain path`);
  }
  return layout;
}

/** Layout overrides from the environment (BERTH_REMOTE_DIR, BERTH_REMOTE_LIB), for tests. */
export function layoutFromEnv(env: NodeJS.ProcessEnv = process.env): ServerLayout {
  return checkLayout({
    ...defaultLayout,
    ...(env.BERTH_REMOTE_DIR ? { berthDir: env.BERTH_REMOTE_DIR } : {}),
    ...(env.BERTH_REMOTE_LIB ? { libDir: env.BERTH_REMOTE_LIB } : {}),
  });
}

/**
 * Where deploys run the server agent: beside the one gateway, so only for the real layout. BERTH_SERVER_AGENT=off
 * leaves it out, for test beds where several layouts share servers and their agents would act on each other's tests.
 */
export function agentLayoutFromEnv(layout: ServerLayout, env: NodeJS.ProcessEnv = process.env): ServerLayout | null {
  if (env.BERTH_SERVER_AGENT === 'off' || layout.berthDir !== BERTH_DIR) return null;
  return layout;
}

export function checkModelName(model: string): string {
  if (!MODEL_NAME.test(model)) throw new BerthError('ValidationError', `"${model}" is not a model name (lowercase letters, digits and dashes)`);
  return model;
}

export function checkGroupName(group: string): string {
  if (!GROUP_NAME.test(group)) throw new BerthError('ValidationError', `"${group}" is not a group name (lowercase letters, digits and dashes)`);
  return group;
}

/** The group-state folder of one group, and the files in it (see services/groups). */
export const groupPaths = (layout: ServerLayout, group: string) => {
  const dir = `${layout.berthDir}/groups/${checkGroupName(group)}`;
  return { dir, state: `${dir}/state.json`, history: `${dir}/history`, revoked: `${dir}/revoked.jsonl`, lock: `${dir}/lock` };
};
export const groupsDir = (layout: ServerLayout) => `${layout.berthDir}/groups`;
/** The server's own identity, made once by the first Berth that attaches it. */
export const serverIdentityPath = (layout: ServerLayout) => `${layout.berthDir}/server.json`;
/** The gateway's certificate, its key and the group CA (root-only; the gateway re-reads them as it does routes.json). */
export const gatewayTlsDir = (layout: ServerLayout) => `${layout.berthDir}/gateway/tls`;
/** What the agent reports, rewritten every second (docs/AGENT.md, "The view"). */
export const agentViewPath = (layout: ServerLayout) => `${layout.berthDir}/agent/view.json`;
/** A lock on a server: its folder, and what berth-shell's lock verbs call it (`lock <model>`, `group-lock <group>`). */
export interface LockPlace {
  dir: string;
  scope: 'model' | 'group';
  name: string;
}
/** A model's operation lock (held for a whole deploy, rollback, …). */
export const modelLock = (layout: ServerLayout, model: string): LockPlace => ({ dir: `${layout.berthDir}/lock/${checkModelName(model)}`, scope: 'model', name: model });
/** A group's state lock (held while one revision is written). */
export const groupLock = (layout: ServerLayout, group: string): LockPlace => ({ dir: groupPaths(layout, group).lock, scope: 'group', name: group });

export const replicaName = (model: string, version: number, index: number) => `berth-${model}-v${version}-r${index}`;

export const labels = {
  model: 'berth.model',
  version: 'berth.version',
  replica: 'berth.replica',
  port: 'berth.port',
  operation: 'berth.operation',
  group: 'berth.group',
} as const;
