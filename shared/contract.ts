/**
 * The one contract between the renderer and the main-process services.
 * Calls are request/response; streams are subscribe → events → end. A stream is either a subscription (a feed,
 * stopped when its subscriber goes away) or an operation (it changes things: it runs to its end whoever listens, a
 * dropped connection re-attaches to it by id, and only an explicit cancel stops it; see electron/main/rpc/sessions.ts).
 * Every input is validated at the boundary with these schemas (see electron/main/rpc/dispatcher.ts).
 */
import { z } from 'zod';
import { BaseImageInfo, EngineInfo, RecentProject, Settings, SettingsPatch, AppInfo, StatusSnapshot } from './types';
import { AddServer, GroupName, GroupView, HostKeyProbe, PresentedHostKey, ServerView, SshConfigHost, SwitchKey, SwitchKeyResult } from './servers';
import { GroupSyncView, RequestLogBound } from './group-state';
import { GroupAuthority, ListenMode, TlsMode } from './tls';
import { AliasName, DeployBuildRequest, DeployEvent, ModelName, ModelView } from './deploy';
import { BuildEvent, BuildRecord, BuildRunInput, EditsState, ListBuildsInput, PrepareInput, PreparedBuild, ResetEditsInput, SaveEditsInput } from './build';
import { DeploymentFileView, SaveDeploymentInput, SavedDeployment } from './deployment-file';
import {
  AddMember,
  ApiKeyView,
  AuditEntryView,
  AuditFilter,
  AuditVerification,
  BreakLockReport,
  CreateKey,
  CreatedKey,
  LocksReport,
  MemberChange,
  MemberView,
  ModelAccessView,
  ModelName as AccessModelName,
  PublishReport,
  PushReport,
  SetRole,
} from './access';

import {
  InferenceExportInput,
  InferenceExportResult,
  InferenceQuery,
  InferenceSearchResult,
  InferenceStats,
  InferenceStatsInput,
  LogFollowEvent,
  LogFollowInput,
  LogTargets,
  SyncResult,
} from './logs';
import { Alert, AlertEvent, AlertsListInput, BerthEvent, EventsListInput, MonitorSnapshot, SetWebhookInput, Webhook } from './monitor';

const noInput = z.object({}).strict();
const byId = z.object({ id: z.number().int().positive() }).strict();
const versionNumber = z.number().int().positive();
const replicaCount = z.number().int().min(1, 'At least one replica per server').max(32);

function call<I extends z.ZodType, O extends z.ZodType>(input: I, output: O) {
  return { input, output };
}
function stream<I extends z.ZodType, E extends z.ZodType>(input: I, event: E) {
  return { input, event, operation: false };
}
function operation<I extends z.ZodType, E extends z.ZodType>(input: I, event: E) {
  return { input, event, operation: true };
}

export const calls = {
  'app.info': call(noInput, AppInfo),
  'engine.info': call(noInput, EngineInfo),
  /** The configured base image (for the example project's Python) and whether this engine holds it. */
  'engine.baseImage': call(noInput, BaseImageInfo),
  'settings.get': call(noInput, Settings),
  'settings.update': call(SettingsPatch, Settings),
  'projects.recent': call(noInput, z.array(RecentProject)),
  'projects.open': call(z.object({ path: z.string().min(1, 'Give the path of a project folder or a .ipynb file') }).strict(), RecentProject),
  /** Copies the bundled example project into the data folder (once: the copy keeps the user's edits) and opens it. */
  'projects.openExample': call(noInput, RecentProject),
  'projects.forget': call(byId, z.array(RecentProject)),
  /** The project's berth.toml (null when it has none); ProjectFileInvalid, with each issue's line, when it is not valid. */
  'projects.deployment': call(z.object({ path: z.string().min(1, 'Give the path of the project folder or notebook') }).strict(), DeploymentFileView),
  /** The berth.toml the deploy panel's values make from the project's own (or from this Berth's group), with its diff; `write` writes it. */
  'projects.saveDeployment': call(SaveDeploymentInput, SavedDeployment),
  'servers.list': call(noInput, z.array(ServerView)),
  'servers.probeHostKey': call(HostKeyProbe, PresentedHostKey),
  'servers.add': call(AddServer, ServerView),
  'servers.test': call(byId, ServerView),
  'servers.switchKey': call(SwitchKey, SwitchKeyResult),
  'servers.remove': call(byId, z.array(ServerView)),
  /** A server gone for good leaves its groups (a revision on the others) and is removed; the report says what became of its replicas. */
  'servers.forget': call(byId, z.object({ servers: z.array(ServerView), report: z.array(z.string()) }).strict()),
  /**
   * "This computer" as a server: registers the local Docker engine (no SSH) as the server `this-computer` and a group
   * `local` of it whose gateway listens on 127.0.0.1; idempotent. The same group state, gateway and agent as any server.
   */
  'servers.addLocal': call(noInput, z.object({ server: ServerView, group: GroupView }).strict()),
  'servers.importSshConfig': call(z.object({ path: z.string().optional() }).strict(), z.array(SshConfigHost)),
  'groups.list': call(noInput, z.array(GroupView)),
  /** A new group serves HTTPS only unless it is made with `tls: 'off'`. */
  'groups.create': call(z.object({ name: GroupName, replicas: replicaCount.default(2), tls: TlsMode.default('https'), listen: ListenMode.default('all') }).strict(), GroupView),
  'groups.update': call(
    z
      .object({ id: z.number().int(), replicas: replicaCount.optional(), serverIds: z.array(z.number().int()).optional(), requestLog: RequestLogBound.optional() })
      .strict(),
    GroupView,
  ),
  'groups.remove': call(byId, z.array(GroupView)),
  /** HTTPS only (every server gets its certificate first; `newAuthority` replaces the group CA), or plain HTTP too. */
  'groups.setTls': call(z.object({ name: GroupName, tls: TlsMode, newAuthority: z.boolean().default(false) }).strict(), GroupView),
  /** Where the group's gateways listen; each gateway that listens elsewhere is restarted, one server at a time. */
  'groups.setListen': call(z.object({ name: GroupName, listen: ListenMode }).strict(), GroupView),
  /** The group CA's certificate, for clients to trust (`curl --cacert`, `requests.post(verify=…)`). */
  'groups.authority': call(z.object({ name: GroupName }).strict(), GroupAuthority.extend({ group: GroupName })),
  /** Refreshes every group another Berth changed (a cheap check of each group's revision); the app polls it. */
  'groups.sync': call(noInput, z.array(GroupSyncView)),
  /** Reads every copy of a group's state and says how each server's copy stands. */
  'groups.refresh': call(z.object({ name: GroupName }).strict(), GroupSyncView),
  /** Writes the current revision again to copies that are damaged, missing or behind. */
  'groups.repair': call(z.object({ name: GroupName }).strict(), GroupSyncView),
  /** Analyses the project and generates its Dockerfile + requirements, reconciled with the user's kept edits. */
  'build.prepare': call(PrepareInput, PreparedBuild),
  'build.saveEdits': call(SaveEditsInput, EditsState),
  'build.resetEdits': call(ResetEditsInput, EditsState),
  /** Recorded local builds, newest first. */
  'build.list': call(ListBuildsInput, z.array(BuildRecord)),
  'deploy.models': call(noInput, z.array(z.string())),
  /** A model's version timeline, where each version runs, and its URLs. */
  'deploy.model': call(z.object({ model: ModelName }).strict(), ModelView),
  'deploy.setAlias': call(z.object({ model: ModelName, alias: AliasName, version: versionNumber }).strict(), ModelView),
  'deploy.stopVersion': call(z.object({ model: ModelName, version: versionNumber }).strict(), ModelView),
  'deploy.startVersion': call(z.object({ model: ModelName, version: versionNumber }).strict(), ModelView),
  /** API keys (secrets are shown once, by access.createKey), team members enforced on the servers, the audit log. */
  'access.keys': call(noInput, z.array(ApiKeyView)),
  'access.createKey': call(CreateKey, CreatedKey),
  'access.revokeKey': call(z.object({ id: z.string().regex(/^key_[0-9a-f]+$/, 'Not an API key id') }).strict(), z.object({ key: ApiKeyView, publish: PublishReport })),
  'access.models': call(noInput, z.array(ModelAccessView)),
  'access.setPublic': call(z.object({ model: AccessModelName, public: z.boolean() }).strict(), z.object({ model: z.string(), public: z.boolean(), publish: PublishReport })),
  'access.members': call(noInput, z.array(MemberView)),
  'access.addMember': call(AddMember, MemberChange),
  'access.setRole': call(SetRole, MemberChange),
  'access.removeMember': call(z.object({ id: z.string().min(1), withOwned: z.boolean().optional() }).strict(), MemberChange),
  /** Installs berth-shell and the team's keys on every server again; reports per server. */
  'access.push': call(noInput, PushReport),
  'access.locks': call(noInput, LocksReport),
  /** A model's lock, or a group's (`group:<name>`). */
  'access.breakLock': call(z.object({ model: z.union([AccessModelName, z.string().regex(/^group:[a-z0-9][a-z0-9-]{0,31}$/, 'Not a group lock')]) }).strict(), BreakLockReport),
  'audit.list': call(AuditFilter, z.array(AuditEntryView)),
  'audit.verify': call(noInput, AuditVerification),
  /** Servers with their Berth containers and the model versions on them, for the log viewer's target picker. */
  'logs.targets': call(noInput, LogTargets),
  /** Pulled inference records (gateway + replica lines joined by request id): filters, full-text search, gaps. */
  'inference.search': call(InferenceQuery, InferenceSearchResult),
  'inference.stats': call(InferenceStatsInput, InferenceStats),
  /** CSV or JSONL: written to `path`, or returned as text. */
  'inference.export': call(InferenceExportInput, InferenceExportResult),
  /** Pulls now instead of waiting for the background pull. */
  'inference.sync': call(z.object({ serverIds: z.array(z.number().int().positive()).optional() }).strict(), SyncResult),
  'monitor.snapshot': call(noInput, MonitorSnapshot),
  'alerts.list': call(AlertsListInput, z.array(Alert)),
  'alerts.webhooks': call(noInput, z.array(Webhook)),
  /** Sets (or clears, with null) the webhook a group's alerts are POSTed to. */
  'alerts.setWebhook': call(SetWebhookInput, z.array(Webhook)),
  /** Every alert and automatic action, newest first. */
  'events.list': call(EventsListInput, z.array(BerthEvent)),
} as const;

export const streams = {
  /** The status bar's feed: Docker engine reachability and servers up, pushed on change. */
  'status.watch': stream(z.object({ intervalMs: z.number().int().min(250).max(60_000).default(3000) }).strict(), StatusSnapshot),
  /** Analyse → build → smoke test, with log lines and step progress; unsubscribing cancels the build. */
  'build.run': operation(BuildRunInput, BuildEvent),
  /** One-click deploy to a group: per-server progress, then `done`; fails whole or not at all. */
  'deploy.run': operation(DeployBuildRequest, DeployEvent),
  /** Moves `latest` back to a kept version through the same health gate. */
  'deploy.rollback': operation(z.object({ model: ModelName, version: versionNumber }).strict(), DeployEvent),
  /** `docker logs -f` of one container, a server or a model's replicas, merged, batched, bounded; stops remotely on unsubscribe. */
  'logs.follow': stream(LogFollowInput, LogFollowEvent),
  /** Health of every server and replica, pushed on change. */
  'monitor.watch': stream(noInput, MonitorSnapshot),
  /** The open alerts, then each alert opened or resolved. */
  'alerts.watch': stream(noInput, AlertEvent),
} as const;

export type Calls = typeof calls;
export type Streams = typeof streams;
export type CallName = keyof Calls;
export type StreamName = keyof Streams;
export type CallInput<N extends CallName> = z.input<Calls[N]['input']>;
export type CallParsedInput<N extends CallName> = z.output<Calls[N]['input']>;
export type CallOutput<N extends CallName> = z.output<Calls[N]['output']>;
export type StreamInput<N extends StreamName> = z.input<Streams[N]['input']>;
export type StreamParsedInput<N extends StreamName> = z.output<Streams[N]['input']>;
export type StreamEvent<N extends StreamName> = z.output<Streams[N]['event']>;

export const isCallName = (name: unknown): name is CallName => typeof name === 'string' && Object.hasOwn(calls, name);
export const isStreamName = (name: unknown): name is StreamName =>
  typeof name === 'string' && Object.hasOwn(streams, name);
/** An operation stream (deploy, build, rollback) outlives its connection; a subscription does not. */
export const isOperation = (name: unknown): boolean => isStreamName(name) && streams[name].operation;
