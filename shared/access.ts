/**
 * Access control: API keys checked by the gateways, team members whose roles the servers enforce, and the
 * hash-chained audit log. Schemas shared by the contract, the services and the UI.
 */
import { z } from 'zod';
import { Role } from './identity';
import { GroupName } from './servers';

export { roles, Role, MemberIdentity } from './identity';

export const ModelName = z
  .string()
  .trim()
  .regex(/^[a-z0-9][a-z0-9_.-]{0,62}$/, 'Model names use lowercase letters, digits, ".", "_" and "-" (e.g. "iris")');

/** What a key may call: every model, one model, or some versions of one model. */
export const KeyScope = z.discriminatedUnion('kind', [
  z.object({ kind: z.literal('all') }).strict(),
  z.object({ kind: z.literal('model'), model: ModelName }).strict(),
  z
    .object({
      kind: z.literal('versions'),
      model: ModelName,
      versions: z.array(z.string().regex(/^[0-9]{1,9}$/, 'Versions are numbers such as "3"')).min(1, 'Pick at least one version'),
    })
    .strict(),
]);
export type KeyScope = z.infer<typeof KeyScope>;

export const CreateKey = z
  .object({
    name: z.string().trim().min(1, 'Name the key after the client that will use it (e.g. "billing-service")').max(80),
    scope: KeyScope,
    /** ISO time; null: never expires. */
    expiresAt: z.iso.datetime({ offset: true, message: 'Expiry must be an ISO date-time' }).nullable().default(null),
    /** The server group whose state holds the key; default: the scoped model's group, or the only group. */
    group: GroupName.optional(),
  })
  .strict();
export type CreateKey = z.input<typeof CreateKey>;

export const ApiKeyView = z.object({
  id: z.string(),
  /** The group whose state holds the key (its gateways check it); null: not yet published by this data folder. */
  group: z.string().nullable(),
  name: z.string(),
  scope: KeyScope,
  expiresAt: z.string().nullable(),
  createdBy: z.string(),
  createdAt: z.string(),
  revokedAt: z.string().nullable(),
  revokedBy: z.string().nullable(),
  state: z.enum(['active', 'expired', 'revoked']),
  requests: z.number().int(),
  lastUsedAt: z.string().nullable(),
});
export type ApiKeyView = z.infer<typeof ApiKeyView>;

/** One server's answer to a key or public-flag change: the group state written there and its gateway table derived. */
export const PublishResult = z.object({
  serverId: z.number(),
  server: z.string(),
  ok: z.boolean(),
  error: z.string().optional(),
  revision: z.number().optional(),
});
export const PublishReport = z.object({
  servers: z.array(PublishResult),
  /** What the per-server results do not say (e.g. a revocation applied everywhere but not yet recorded in a revision). */
  note: z.string().optional(),
});
export type PublishReport = z.infer<typeof PublishReport>;

export const CreatedKey = z.object({
  key: ApiKeyView,
  /** Shown once; Berth keeps only its sha256. */
  secret: z.string(),
  publish: PublishReport,
});
export type CreatedKey = z.infer<typeof CreatedKey>;

/** Per-key request counts, from the gateways' inference logs. */
export const KeyUsage = z.object({ keyId: z.string(), requests: z.number().int().min(0), lastUsedAt: z.string().nullable() });
export type KeyUsage = z.infer<typeof KeyUsage>;

export const ModelAccessView = z.object({ name: z.string(), public: z.boolean(), versions: z.array(z.string()) });
export type ModelAccessView = z.infer<typeof ModelAccessView>;

/** What each role may do on the servers (enforced there by berth-shell, docs/AGENT.md "berth-shell"). */
export const roleSummary: Record<Role, string> = {
  viewer: 'status and logs: ps, logs, inspect, stats, health, images, audit, locks, the group state',
  deployer: 'viewer + deploy, rollback, start/stop and image load of their models, deploy locks, audit entries in their own name',
  admin: 'deployer on every model + keys, members, the gateway, group settings, breaking locks and a full shell',
};

/** The models a deployer is limited to (a viewer of the others); none given: every model of the group. */
export const MemberModels = z.array(ModelName).min(1, 'Name at least one model, or leave the scope empty for every model').max(100);


export const MemberName = z.string().trim().min(1, 'Give the member’s name').max(80);
export const SshPublicKey = z
  .string()
  .trim()
  .min(1, 'Paste the member’s SSH public key (the one line of ~/.ssh/id_ed25519.pub)')
  .max(16_384, 'That is too long to be an SSH public key');

export const AddMember = z
  .object({
    name: MemberName,
    publicKey: SshPublicKey,
    role: Role,
    models: MemberModels.optional(),
    /** A CI runner's key: the member (a person) it belongs to, whose offboarding can remove it too. */
    owner: z.string().regex(/^m_[0-9a-f]+$/, 'Pick the member this key belongs to').optional(),
    /** The server group the member joins; default: the only group. */
    group: GroupName.optional(),
  })
  .strict()
  .refine((m) => m.models === undefined || m.role === 'deployer', { message: 'Only a deployer is limited to some models', path: ['models'] });
export type AddMember = z.infer<typeof AddMember>;

export const SetRole = z
  .object({ id: z.string().min(1), role: Role, models: MemberModels.nullable().optional() })
  .strict()
  .refine((m) => !m.models || m.role === 'deployer', { message: 'Only a deployer is limited to some models', path: ['models'] });
export type SetRole = z.infer<typeof SetRole>;

export const MemberView = z.object({
  id: z.string(),
  /** The group whose servers the member may log in to; null: not yet published by this data folder. */
  group: z.string().nullable(),
  name: z.string(),
  role: Role,
  /** The models a deployer is limited to; null: every model of the group. */
  models: z.array(z.string()).nullable(),
  /** A CI runner's key: the member it belongs to; null: a person. */
  owner: z.string().nullable(),
  keyType: z.string(),
  fingerprint: z.string(),
  createdAt: z.string(),
  updatedAt: z.string(),
});
export type MemberView = z.infer<typeof MemberView>;

/** One server's result of installing berth-shell and the team's keys. */
export const PushResult = z.object({
  serverId: z.number(),
  server: z.string(),
  ok: z.boolean(),
  error: z.string().optional(),
  members: z.number().int(),
});
export type PushResult = z.infer<typeof PushResult>;
export const PushReport = z.object({
  servers: z.array(PushResult),
  at: z.string(),
  /** What the per-server results do not say (e.g. a removal applied everywhere but not yet recorded in a revision). */
  note: z.string().optional(),
});
export type PushReport = z.infer<typeof PushReport>;

export const MemberChange = z.object({ members: z.array(MemberView), push: PushReport });
export type MemberChange = z.infer<typeof MemberChange>;

/** Known audit actions; other services may add their own (`<noun>.<verb>` or a single word). */
export const auditActions = [
  'deploy',
  'rollback',
  'alias',
  'stop',
  'start',
  'recover',
  'lock.break',
  'key.create',
  'key.revoke',
  'model.public',
  'member.add',
  'member.role',
  'member.remove',
  'team.push',
  'server.add',
  'server.remove',
  'server.login',
] as const;
export const AuditAction = z.string().regex(/^[a-z][a-z-]*(\.[a-z][a-z-]*)?$/, 'An audit action is like "deploy" or "key.create"');
export const AuditResult = z.enum(['ok', 'failed', 'partial']);

/** What a service records; who, when and where are filled in unless given. */
export const AuditInput = z
  .object({
    action: AuditAction,
    /** What was acted on, e.g. "iris v3", "key_8f3a2c", "tb1". */
    target: z.string().max(300),
    result: AuditResult.default('ok'),
    /** Member name or OS user; default: the OS user running Berth. */
    actor: z.string().max(120).optional(),
    machine: z.string().max(255).optional(),
    details: z.record(z.string(), z.unknown()).optional(),
    /** Servers whose audit file gets the entry (registered server ids); default: every registered server. */
    serverIds: z.array(z.number().int()).optional(),
  })
  .strict();
export type AuditInput = z.input<typeof AuditInput>;

/** The entry as hashed and stored (canonical JSON of this object). */
export interface AuditRecordBody {
  v: 1;
  at: string;
  actor: string;
  machine: string;
  action: string;
  target: string;
  result: 'ok' | 'failed' | 'partial';
  details: Record<string, unknown>;
}

export const DeliveryView = z.object({
  serverId: z.number(),
  server: z.string(),
  state: z.enum(['pending', 'delivered', 'failed']),
  remoteSeq: z.number().nullable(),
  error: z.string().nullable(),
});

export const AuditEntryView = z.object({
  seq: z.number(),
  at: z.string(),
  actor: z.string(),
  machine: z.string(),
  action: z.string(),
  target: z.string(),
  result: AuditResult,
  details: z.record(z.string(), z.unknown()),
  hash: z.string(),
  prev: z.string(),
  deliveries: z.array(DeliveryView),
});
export type AuditEntryView = z.infer<typeof AuditEntryView>;

export const AuditFilter = z
  .object({
    actor: z.string().trim().optional(),
    action: z.string().trim().optional(),
    /** Free text matched against the target. */
    target: z.string().trim().optional(),
    since: z.iso.datetime({ offset: true }).optional(),
    until: z.iso.datetime({ offset: true }).optional(),
    limit: z.number().int().min(1).max(5000).default(200),
  })
  .strict();
export type AuditFilter = z.input<typeof AuditFilter>;

export const ChainBreak = z.object({
  /** 1-based position in the log (SQLite: seq; a server file: line number). */
  position: z.number(),
  seq: z.number().nullable(),
  reason: z.string(),
});
export type ChainBreak = z.infer<typeof ChainBreak>;

export const ChainCheck = z.object({ ok: z.boolean(), entries: z.number(), breaks: z.array(ChainBreak) });
export type ChainCheck = z.infer<typeof ChainCheck>;

export const AuditVerification = z.object({
  local: ChainCheck,
  servers: z.array(ChainCheck.extend({ serverId: z.number(), server: z.string(), error: z.string().optional() })),
  ok: z.boolean(),
  checkedAt: z.string(),
});
export type AuditVerification = z.infer<typeof AuditVerification>;

export const LockView = z.object({
  serverId: z.number(),
  server: z.string(),
  model: z.string(),
  holder: z.string().nullable(),
  machine: z.string().nullable(),
  message: z.string().nullable(),
  since: z.string().nullable(),
});
export type LockView = z.infer<typeof LockView>;

export const LocksReport = z.object({
  locks: z.array(LockView),
  errors: z.array(z.object({ serverId: z.number(), server: z.string(), error: z.string() })),
});
export type LocksReport = z.infer<typeof LocksReport>;

export const BreakLockReport = z.object({
  model: z.string(),
  servers: z.array(z.object({ serverId: z.number(), server: z.string(), ok: z.boolean(), held: z.boolean(), error: z.string().optional() })),
});
export type BreakLockReport = z.infer<typeof BreakLockReport>;
