import { setTimeout as sleep } from 'node:timers/promises';
import type { ClientChannel } from 'ssh2';
import { BerthError } from '../../../../shared/errors';
import { LogFollowInput, type LogFollowEvent, type LogLine, type LogSource, type LogTarget, type LogTargets } from '../../../../shared/logs';
import { createChannelBudget, type OpenConnection } from '../monitor/connect';
import { docker } from '../remote/command';
import type { SshConnection } from '../transport/ssh';
import { createBatcher, type BatcherOptions } from './batcher';
import { closeTied, compareDockerTs, lineSplitter, listBerthContainers, splitTimestamp, tiedToChannel, type BerthContainer } from './remote';

export interface LogsDeps {
  /** A pooled connection for short commands (listing containers). */
  connection(serverId: number): Promise<SshConnection>;
  /** Fresh connections for the `docker logs -f` channels, closed when the follow ends. */
  open: OpenConnection;
  listServers(): Array<{ id: number; name: string }>;
  /** How often containers are listed again, to pick up new replicas and re-attach restarted ones. */
  rediscoverMs?: number;
  batcher?: BatcherOptions;
}

type ParsedFollowInput = ReturnType<typeof LogFollowInput.parse>;

interface Follower {
  key: string;
  source: LogSource;
  containerId: string | null;
  channel: ClientChannel | null;
  /** Newest Docker timestamp delivered; a re-attach asks `--since` it and drops what it already sent. */
  lastTs: string;
}

const matches = (target: LogTarget, c: BerthContainer) => {
  if (target.kind === 'container') return c.name === target.container;
  if (target.kind === 'server') return true;
  return c.model === target.model && (target.version === undefined || c.version === target.version);
};

/** Live logs: `docker logs -f` per container over SSH, merged, batched and bounded; nothing keeps running remotely after the subscriber leaves. */
export function createLogsService(deps: LogsDeps) {
  const rediscoverMs = deps.rediscoverMs ?? 3000;

  function serversOf(target: LogTarget): Array<{ id: number; name: string }> {
    const all = deps.listServers();
    const wanted = target.kind === 'model' ? target.serverIds : [target.serverId];
    if (!wanted) return all;
    const found = all.filter((s) => wanted.includes(s.id));
    if (found.length === 0) throw new BerthError('NotFound', `Server ${wanted.join(', ')} is not registered (it may have been removed)`);
    return found;
  }

  async function follow(input: ParsedFollowInput, emit: (event: LogFollowEvent) => void, signal: AbortSignal): Promise<void> {
    const target = input.target;
    const servers = serversOf(target);
    const followers = new Map<string, Follower>();
    const budget = createChannelBudget(deps.open);
    const batcher = createBatcher<LogLine>((lines, skipped) => emit({ type: 'lines', lines, skipped }), deps.batcher);
    let nextId = 1;
    let sourcesDirty = false;

    const markSources = () => {
      sourcesDirty = true;
      queueMicrotask(() => {
        if (!sourcesDirty || signal.aborted) return;
        sourcesDirty = false;
        emit({ type: 'sources', sources: [...followers.values()].map((f) => ({ ...f.source })) });
      });
    };

    function follower(serverId: number, server: string, container: string): Follower {
      const key = `${serverId}/${container}`;
      let f = followers.get(key);
      if (!f) {
        f = { key, containerId: null, channel: null, lastTs: '', source: { id: nextId++, serverId, server, container, state: 'ended', message: null } };
        followers.set(key, f);
      }
      return f;
    }

    function setState(f: Follower, state: LogSource['state'], message: string | null) {
      if (f.source.state === state && f.source.message === message) return;
      f.source.state = state;
      f.source.message = message;
      markSources();
    }

    async function attach(f: Follower, serverId: number, c: BerthContainer): Promise<void> {
      const resuming = f.lastTs !== '' && f.containerId === c.id;
      const options: Array<string | number> = ['--follow', '--timestamps'];
      if (resuming) options.push('--since', f.lastTs);
      else {
        options.push('--tail', input.tail);
        if (input.since) options.push('--since', input.since);
      }
      // berth-shell takes the container by name: its rights follow the name's model label.
      const follow = docker('logs', ...options, c.id).asVerb(['logs', c.name, ...options]);
      f.containerId = c.id;
      const { ssh, release } = await budget.acquire(serverId);
      let channel: ClientChannel;
      try {
        channel = await ssh.stream(tiedToChannel(follow));
      } catch (err) {
        release();
        throw err;
      }
      if (signal.aborted) {
        release();
        closeTied(channel);
        return;
      }
      f.channel = channel;
      setState(f, 'following', null);
      const floor = resuming ? f.lastTs : '';
      let problem = '';
      const deliver = (err: boolean) => (raw: string) => {
        const [ts, text] = splitTimestamp(raw);
        if (!ts && err) problem = text; // docker's own complaint ("No such container") has no timestamp
        if (ts && floor && compareDockerTs(ts, floor) <= 0) return; // --since is inclusive: already sent
        if (ts && (!f.lastTs || compareDockerTs(ts, f.lastTs) > 0)) f.lastTs = ts;
        batcher.push(err ? { s: f.source.id, ts, text, err: true } : { s: f.source.id, ts, text });
      };
      const out = lineSplitter(deliver(false));
      const errOut = lineSplitter(deliver(true));
      channel.on('data', (chunk: Buffer) => out.push(chunk));
      channel.stderr.on('data', (chunk: Buffer) => errOut.push(chunk));
      let exitCode: number | null = null;
      channel.on('exit', (code: number | null) => (exitCode = code));
      channel.on('close', () => {
        out.end();
        errOut.end();
        release();
        if (f.channel === channel) f.channel = null;
        if (signal.aborted) return;
        if (exitCode !== 0 && exitCode !== null) setState(f, 'failed', problem || `docker logs exited with ${exitCode}`);
        else setState(f, 'ended', 'the container stopped; following again when it runs');
      });
    }

    async function discoverOn(server: { id: number; name: string }): Promise<void> {
      const serverSource = `${server.id}/*`;
      let containers: BerthContainer[];
      try {
        containers = (await listBerthContainers(await deps.connection(server.id))).filter((c) => matches(target, c));
      } catch (err) {
        setState(follower(server.id, server.name, '*'), 'failed', BerthError.from(err).message);
        return;
      }
      if (followers.delete(serverSource)) markSources();
      if (target.kind === 'container' && containers.length === 0) {
        setState(follower(server.id, server.name, target.container), 'failed', `No container named ${target.container} on ${server.name}`);
        return;
      }
      for (const c of containers) {
        const f = follower(server.id, server.name, c.name);
        if (f.channel) continue;
        // A stopped container is shown once (its last lines explain why it stopped); it is followed again when it runs.
        const firstTime = f.containerId === null;
        const replaced = f.containerId !== null && f.containerId !== c.id;
        if (!firstTime && !replaced && c.state !== 'running' && c.state !== 'restarting') continue;
        if (replaced) f.lastTs = '';
        await attach(f, server.id, c).catch((err) => setState(f, 'failed', BerthError.from(err).message));
      }
    }

    try {
      while (!signal.aborted) {
        await Promise.all(servers.map((server) => discoverOn(server)));
        if (followers.size === 0) {
          emit({ type: 'sources', sources: [] });
        }
        await sleep(rediscoverMs, undefined, { signal }).catch(() => undefined);
      }
    } finally {
      for (const f of followers.values()) if (f.channel) closeTied(f.channel);
      batcher.close();
      // Give the channels a moment to close cleanly (EOF reaches the remote watcher) before dropping the connections.
      await waitClosed([...followers.values()].map((f) => f.channel).filter((c): c is ClientChannel => c !== null), 2000);
      budget.closeAll();
    }
  }

  /** Servers with their Berth containers, and the model versions found on them, for the target picker. */
  async function targets(): Promise<LogTargets> {
    const servers = await Promise.all(
      deps.listServers().map(async (server) => {
        try {
          const containers = await listBerthContainers(await deps.connection(server.id), 6000);
          return { id: server.id, name: server.name, reachable: true, error: null, containers };
        } catch (err) {
          return { id: server.id, name: server.name, reachable: false, error: BerthError.from(err).message, containers: [] };
        }
      }),
    );
    const versions = new Map<string, { model: string; version: number; serverIds: number[] }>();
    for (const server of servers) {
      for (const c of server.containers) {
        if (!c.model || c.version === null) continue;
        const key = `${c.model}\u0000${c.version}`;
        const entry = versions.get(key) ?? { model: c.model, version: c.version, serverIds: [] };
        if (!entry.serverIds.includes(server.id)) entry.serverIds.push(server.id);
        versions.set(key, entry);
      }
    }
    return {
      servers: servers.map((s) => ({ ...s, containers: s.containers.map(({ name, state, model, version, replica }) => ({ name, state, model, version, replica })) })),
      versions: [...versions.values()].sort((a, b) => a.model.localeCompare(b.model) || b.version - a.version),
    };
  }

  return { follow, targets };
}
export type LogsService = ReturnType<typeof createLogsService>;

function waitClosed(channels: ClientChannel[], timeoutMs: number): Promise<void> {
  if (channels.length === 0) return Promise.resolve();
  return new Promise((resolve) => {
    let open = channels.length;
    const timer = setTimeout(resolve, timeoutMs);
    for (const channel of channels) {
      channel.once('close', () => {
        if (--open === 0) {
          clearTimeout(timer);
          resolve();
        }
      });
    }
  });
}
