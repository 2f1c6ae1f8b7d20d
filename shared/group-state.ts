/**
 * The group state: the desired state of one server group, kept on every server of the group under
 * /var/lib/berth/groups/<group>/ (docs/ARCHITECTURE.md, "Servers hold the truth"). Every change writes a new
 * revision that names the hash of the one it replaced, so any copy can be checked and compared. Validated on read:
 * a copy that fails to parse or to verify is reported and never served from.
 */
import { z } from 'zod';
import { KeyScope } from './access';
import { GpuIndex, GpuRequest } from './deploy';
import { GroupAuthority, ListenMode, TlsMode } from './tls';

export const STATE_FORMAT = 1;

const iso = z.string().min(1);
const sha256 = z.string().regex(/^[0-9a-f]{64}$/);
/** A server's identity, made once on the server itself (server.json), so every Berth names it the same way. */
export const ServerUid = z.string().regex(/^srv_[0-9a-f]{16}$/);

export const StateServer = z.object({ uid: ServerUid, name: z.string(), host: z.string(), port: z.number().int() }).strict();
export type StateServer = z.infer<typeof StateServer>;

export const StateReplica = z
  .object({
    name: z.string().regex(/^berth-[a-z0-9-]+-v\d+-r\d+$/),
    port: z.number().int().min(1).max(65535),
    /** Set on a stand-in started for a lost server's replica; removed again when that server returns. */
    standsInFor: ServerUid.optional(),
    /** The GPUs (indexes on its server) this replica was given; absent: none. No two replicas on a server share one. */
    gpus: z.array(GpuIndex).min(1).optional(),
  })
  .strict();
export type StateReplica = z.infer<typeof StateReplica>;

export const VersionState = z.enum(['pending', 'live', 'stopped', 'retired', 'failed']);

export const StateVersion = z
  .object({
    number: z.number().int().positive(),
    imageRef: z.string(),
    imageId: z.string(),
    notebookHash: z.string().nullable(),
    dockerfile: z.string().nullable(),
    requirements: z.string().nullable(),
    createdBy: z.string(),
    createdAt: iso,
    /** What the deployer said of it (`berth deploy --message`, the deploy panel); absent: nothing. */
    message: z.string().max(500).optional(),
    state: VersionState,
    resources: z
      .object({
        replicas: z.number().int().min(1),
        memoryMb: z.number().int().min(16),
        cpus: z.number().positive(),
        /** GPUs per replica as the deploy asked (absent: none); the agents give a stand-in as many free ones. */
        gpus: GpuRequest.optional(),
      })
      .strict(),
    /** Replicas per server uid. */
    placements: z.record(ServerUid, z.array(StateReplica)),
  })
  .strict();
export type StateVersion = z.infer<typeof StateVersion>;

export const StateModel = z
  .object({
    public: z.boolean(),
    keepVersions: z.number().int().min(1).max(50),
    createdBy: z.string(),
    createdAt: iso,
    versions: z.array(StateVersion),
    /** Alias → version number; `latest` is one of them. */
    aliases: z.record(z.string(), z.number().int().positive()),
  })
  .strict();
export type StateModel = z.infer<typeof StateModel>;

export const StateKey = z
  .object({
    id: z.string().regex(/^key_[0-9a-f]+$/),
    name: z.string(),
    sha256,
    scope: KeyScope,
    expiresAt: z.string().nullable(),
    createdBy: z.string(),
    createdAt: iso,
    revokedAt: z.string().nullable(),
    revokedBy: z.string().nullable(),
  })
  .strict();
export type StateKey = z.infer<typeof StateKey>;

export const StateMember = z
  .object({
    id: z.string().regex(/^m_[0-9a-f]+$/),
    name: z.string(),
    role: z.enum(['viewer', 'deployer', 'admin']),
    /** A deployer limited to these models (berth-shell enforces it); absent: every model of the group. */
    models: z.array(z.string()).optional(),
    /** A CI runner's key: the member (a person) it belongs to; offboarding them can remove it too. */
    owner: z.string().regex(/^m_[0-9a-f]+$/).optional(),
    publicKey: z.string(),
    keyType: z.string(),
    fingerprint: z.string(),
    createdAt: iso,
    updatedAt: iso,
  })
  .strict();
export type StateMember = z.infer<typeof StateMember>;

export const RequestLogBound = z.object({ maxMb: z.number().int().min(10).max(100_000), maxDays: z.number().int().min(1).max(3650) }).strict();
export type RequestLogBound = z.infer<typeof RequestLogBound>;

export const GroupSettings = z
  .object({
    /** Replicas per server for a deploy that names none. */
    replicas: z.number().int().min(1).max(32),
    /** Webhooks that the agents POST the group's alerts to (generic JSON with a Slack-compatible `text`). */
    webhooks: z.array(z.string().url()),
    /**
     * How much of the inference log each server keeps until a Berth pulls it: the gateway rotates at 10 MB and keeps
     * maxMb in all; the agent removes rotated files older than maxDays. Records rotated away before a pull show as a gap.
     */
    requestLog: RequestLogBound.optional(),
    /** The bearer token the group's agents show each other (docs/AGENT.md); made with the first revision that lacks it. */
    peerToken: z.string().regex(/^[0-9a-f]{64}$/).optional(),
    /** Absent: `off`, as for every group made before Berth served HTTPS. */
    tls: TlsMode.optional(),
    authority: GroupAuthority.optional(),
    /** Absent: `all`. */
    listen: ListenMode.optional(),
  })
  .strict();
export type GroupSettings = z.infer<typeof GroupSettings>;
/** The settings each server's gateway follows: HTTPS, its certificate authority, the address it listens on. */
export type GatewaySettings = Pick<GroupSettings, 'tls' | 'authority' | 'listen'>;

export const GroupState = z
  .object({
    servers: z.array(StateServer).min(1),
    settings: GroupSettings,
    models: z.record(z.string().regex(/^[a-z0-9]+(-[a-z0-9]+)*$/), StateModel),
    keys: z.array(StateKey),
    members: z.array(StateMember),
  })
  .strict();
export type GroupState = z.infer<typeof GroupState>;
/** What a group keeps when its settings name no bound (the gateway's own defaults: 5 files of 10 MB). */
export const DEFAULT_REQUEST_LOG: RequestLogBound = { maxMb: 50, maxDays: 30 };

/** One revision of a group's state. Its hash is sha256 over its canonical JSON (RFC 8785). */
export const StateRevision = z
  .object({
    format: z.literal(STATE_FORMAT),
    group: z.string(),
    revision: z.number().int().positive(),
    /** Hash of the revision this one replaced; null for the first. */
    prev: sha256.nullable(),
    at: iso,
    by: z.object({ holder: z.string(), machine: z.string() }).strict(),
    /** What changed, in words (shown in the app's history). */
    change: z.string(),
    state: GroupState,
  })
  .strict();
export type StateRevision = z.infer<typeof StateRevision>;

/** The file on a server: the revision and the hash its writer computed. */
export const StateFile = z.object({ hash: sha256, revision: StateRevision }).strict();
export type StateFile = z.infer<typeof StateFile>;

/**
 * A right taken away (a key revoked, a member removed). Written at once to every reachable server of the group,
 * without the lock or a majority, into a grow-only file merged by union, so no revision can bring it back.
 */
export const Revocation = z
  .object({ kind: z.enum(['key', 'member']), id: z.string(), at: iso, by: z.string() })
  .strict();
export type Revocation = z.infer<typeof Revocation>;

/** What the app shows of a group's state copies. */
export const GroupSyncView = z.object({
  group: z.string(),
  revision: z.number().nullable(),
  hash: z.string().nullable(),
  by: z.string().nullable(),
  at: z.string().nullable(),
  /** When this Berth last read the group's state from its servers. */
  refreshedAt: z.string().nullable(),
  copies: z.array(
    z.object({
      server: z.string(),
      state: z.enum(['current', 'behind', 'missing', 'damaged', 'unreachable', 'diverged']),
      revision: z.number().nullable(),
      detail: z.string().optional(),
    }),
  ),
});
export type GroupSyncView = z.infer<typeof GroupSyncView>;
