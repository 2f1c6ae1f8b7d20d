/**
 * The one contract between the renderer and the main-process services.
 * Calls are request/response; streams are subscribe → events → end, cancelled when the subscriber goes away.
 * Every input is validated at the boundary with these schemas (see electron/main/rpc/dispatcher.ts).
 */
import { z } from 'zod';
import { EngineInfo, RecentProject, Settings, SettingsPatch, AppInfo, StatusSnapshot } from './types';
import { AddServer, GroupName, GroupView, HostKeyProbe, PresentedHostKey, ServerView, SshConfigHost } from './servers';

const noInput = z.object({}).strict();
const byId = z.object({ id: z.number().int().positive() }).strict();
const replicaCount = z.number().int().min(1, 'At least one replica per server').max(32);

function call<I extends z.ZodType, O extends z.ZodType>(input: I, output: O) {
  return { input, output };
}
function stream<I extends z.ZodType, E extends z.ZodType>(input: I, event: E) {
  return { input, event };
}

export const calls = {
  'app.info': call(noInput, AppInfo),
  'engine.info': call(noInput, EngineInfo),
  'settings.get': call(noInput, Settings),
  'settings.update': call(SettingsPatch, Settings),
  'projects.recent': call(noInput, z.array(RecentProject)),
  'projects.open': call(z.object({ path: z.string().min(1, 'Give the path of a project folder or a .ipynb file') }).strict(), RecentProject),
  'projects.forget': call(byId, z.array(RecentProject)),
  'servers.list': call(noInput, z.array(ServerView)),
  'servers.probeHostKey': call(HostKeyProbe, PresentedHostKey),
  'servers.add': call(AddServer, ServerView),
  'servers.test': call(byId, ServerView),
  'servers.remove': call(byId, z.array(ServerView)),
  'servers.importSshConfig': call(z.object({ path: z.string().optional() }).strict(), z.array(SshConfigHost)),
  'groups.list': call(noInput, z.array(GroupView)),
  'groups.create': call(z.object({ name: GroupName, replicas: replicaCount.default(2) }).strict(), GroupView),
  'groups.update': call(z.object({ id: z.number().int(), replicas: replicaCount.optional(), serverIds: z.array(z.number().int()).optional() }).strict(), GroupView),
  'groups.remove': call(byId, z.array(GroupView)),
} as const;

export const streams = {
  /** The status bar's feed: Docker engine reachability and servers up, pushed on change. */
  'status.watch': stream(z.object({ intervalMs: z.number().int().min(250).max(60_000).default(3000) }).strict(), StatusSnapshot),
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
