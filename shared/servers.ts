import { z } from 'zod';
import { ServerLogin } from './identity';
import { GroupAuthority, ListenMode, TlsMode } from './tls';

const hostName = z
  .string()
  .trim()
  .min(1, 'Give the server’s address')
  .regex(/^[A-Za-z0-9.:_-]+$/, 'An address is a host name or an IP address, without spaces or a user@ prefix');

export const ServerName = z
  .string()
  .trim()
  .regex(/^[a-z0-9][a-z0-9-]{0,62}$/, 'Names use lowercase letters, digits and dashes (e.g. "gpu-1")');

export const ServerAuth = z.discriminatedUnion('type', [
  z.object({ type: z.literal('keyFile'), path: z.string().min(1, 'Give the path of the private key file'), passphrase: z.string().optional() }),
  z.object({ type: z.literal('agent') }),
  /** The key's text itself, as a pipeline holds it in a secret variable (BERTH_SSH_KEY); `origin` says where it came from. */
  z.object({
    type: z.literal('keyText'),
    privateKey: z.string().min(1, 'The private key is empty'),
    passphrase: z.string().optional(),
    origin: z.string().min(1).max(200).default('a pasted key'),
  }),
]);
export type ServerAuth = z.infer<typeof ServerAuth>;

export const HostKeyProbe = z.object({ host: hostName, port: z.number().int().min(1).max(65535).default(22) }).strict();

export const PresentedHostKey = z.object({
  host: z.string(),
  port: z.number(),
  keyType: z.string(),
  fingerprint: z.string(),
});
export type PresentedHostKey = z.infer<typeof PresentedHostKey>;

export const AddServer = z
  .object({
    name: ServerName,
    host: hostName,
    port: z.number().int().min(1).max(65535).default(22),
    username: z.string().trim().min(1, 'Give the user to log in as').regex(/^[a-z_][a-z0-9_.-]*$/i, 'Not a valid user name'),
    auth: ServerAuth,
    /** The fingerprint the user accepted after comparing it; the connection must present exactly this key. */
    hostKeyFingerprint: z.string().regex(/^SHA256:[A-Za-z0-9+/]{43}$/, 'Accept the host key fingerprint first'),
  })
  .strict();
export type AddServer = z.input<typeof AddServer>;

export const ServerFacts = z.object({
  engineVersion: z.string(),
  os: z.string(),
  arch: z.string(),
  cpus: z.number(),
  memoryBytes: z.number(),
  diskFreeBytes: z.number(),
  dockerRootDir: z.string(),
  gpus: z.array(z.string()),
  latencyMs: z.number(),
  checkedAt: z.string(),
});
export type ServerFacts = z.infer<typeof ServerFacts>;

/** Log in to these servers with another key (e.g. after claiming them: one's own member key). */
export const SwitchKey = z
  .object({
    serverIds: z.array(z.number().int()).min(1, 'Pick at least one server'),
    auth: z.object({ type: z.literal('keyFile'), path: z.string().min(1, 'Give the private key file'), passphrase: z.string().optional() }).strict(),
  })
  .strict();
export type SwitchKey = z.infer<typeof SwitchKey>;

export const ServerView = z.object({
  id: z.number(),
  name: z.string(),
  host: z.string(),
  port: z.number(),
  username: z.string(),
  auth: z.enum(['key', 'agent']),
  keyOrigin: z.string().nullable(),
  hostKeyType: z.string(),
  hostKeyFingerprint: z.string(),
  /** This computer (the local Docker engine, reached through its own shell), not a server reached over SSH. */
  local: z.boolean(),
  groups: z.array(z.string()),
  state: z.enum(['unknown', 'up', 'down']),
  lastError: z.string().nullable(),
  facts: ServerFacts.nullable(),
  /** Known once Berth has connected since it started. */
  login: ServerLogin.nullable(),
});
export type ServerView = z.infer<typeof ServerView>;

export const SwitchKeyResult = z.object({ servers: z.array(ServerView), message: z.string() });
export type SwitchKeyResult = z.infer<typeof SwitchKeyResult>;

export const SshConfigHost = z.object({
  alias: z.string(),
  host: z.string(),
  port: z.number(),
  username: z.string().nullable(),
  identityFile: z.string().nullable(),
});
export type SshConfigHost = z.infer<typeof SshConfigHost>;

export const GroupName = z.string().trim().regex(/^[a-z0-9][a-z0-9-]{0,31}$/, 'Group names use lowercase letters, digits and dashes (e.g. "prod")');

export const GroupView = z.object({
  id: z.number(),
  name: z.string(),
  replicas: z.number(),
  serverIds: z.array(z.number()),
  /** The group state this Berth last read from the servers (null: not yet published). */
  revision: z.number().nullable(),
  changedBy: z.string().nullable(),
  changedAt: z.string().nullable(),
  refreshedAt: z.string().nullable(),
  /** The one platform its servers run (e.g. linux/amd64), which builds for it target; null: mixed, or not known yet. */
  platform: z.string().nullable(),
  /** Every platform its servers run, as last read from their facts; more than one: mixed, and deploys are refused. */
  platforms: z.array(z.string()),
  /** HTTPS at its gateways: `off` for a group made before Berth served HTTPS, until an admin switches. */
  tls: TlsMode,
  listen: ListenMode,
  /** The group CA's certificate for clients to trust; null until the group's first server certificate. */
  authority: GroupAuthority.nullable(),
});
export type GroupView = z.infer<typeof GroupView>;
