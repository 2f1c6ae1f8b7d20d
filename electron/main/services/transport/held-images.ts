/**
 * Images held by a server instead of the laptop (a remote build's): the deploy's ImageSender, extended so that an
 * image the local engine lacks is looked for on the servers, and reaches the others server to server
 * (server-copy.ts) rather than through the laptop. An image the local engine has goes the usual way, unchanged.
 */
import type { Readable } from 'node:stream';
import { BerthError } from '../../../../shared/errors';
import { docker } from '../remote/command';
import type { ImageSender, SendResult } from '../deploy/orchestrator';
import { remoteImageId } from './image-remote';
import { archiveMembers, canCopyFrom, copyImage, type CopyTarget } from './server-copy';
import type { SshConnection } from './ssh';

export interface HeldImageDeps {
  connection(serverId: number): Promise<SshConnection>;
  /** The servers that may hold an image built on one of them (the registry's). */
  servers(): number[];
  /** How another server reaches this one: its registered address, port, login and pinned host key. */
  copyTarget(serverId: number): Omit<CopyTarget, 'ssh'>;
  /** Loads a `docker save` stream into the local engine (the relay when a server has no ssh client). */
  loadLocal(archive: Readable): Promise<void>;
  log?(message: string): void;
}

interface Holder {
  serverId: number;
  imageId: string;
}

const TIMEOUT_MS = 30_000;

export function withHeldImages(local: ImageSender, deps: HeldImageDeps): ImageSender {
  const holders = new Map<string, Holder>();

  const isNotLocal = (err: unknown) => BerthError.from(err).kind === 'NotFound';

  /** The first server (in registry order) that holds the reference. */
  async function holderOf(ref: string): Promise<Holder> {
    const known = holders.get(ref);
    if (known) return known;
    for (const serverId of deps.servers()) {
      const ssh = await deps.connection(serverId).catch(() => null);
      const imageId = ssh && (await remoteImageId(ssh, ref, TIMEOUT_MS).catch(() => null));
      if (imageId) {
        holders.set(ref, { serverId, imageId });
        return { serverId, imageId };
      }
    }
    throw new BerthError('NotFound', `${ref} is neither in the local Docker engine nor on any server: build it first`);
  }

  async function localId(ref: string): Promise<string> {
    return local.localId(ref).catch(async (err: unknown) => {
      if (!isNotLocal(err)) throw err;
      return (await holderOf(ref)).imageId;
    });
  }

  async function localPlatform(ref: string): Promise<string> {
    return local.localPlatform(ref).catch(async (err: unknown) => {
      if (!isNotLocal(err)) throw err;
      const holder = await holderOf(ref);
      const ssh = await deps.connection(holder.serverId);
      return (await ssh.run(docker('image', 'inspect', '--format', '{{.Os}}/{{.Architecture}}', ref), { timeoutMs: TIMEOUT_MS })).trim();
    });
  }

  /** The relay: the holder's `docker save` into the local engine, then the usual layer-aware transport. */
  async function relay(ref: string, source: SshConnection, serverIds: number[], options: Parameters<ImageSender['send']>[2]) {
    deps.log?.(`${source.target.host} has no ssh client to copy ${ref} to its peers itself: relaying it through this machine.`);
    const channel = await source.stream(docker('save', ref));
    await deps.loadLocal(channel);
    return local.send(ref, serverIds, options);
  }

  async function send(ref: string, serverIds: number[], options: Parameters<ImageSender['send']>[2]): Promise<Map<number, SendResult>> {
    const here = await local.localId(ref).then(() => true, (err: unknown) => (isNotLocal(err) ? false : Promise.reject(err)));
    if (here) return local.send(ref, serverIds, options);
    const holder = await holderOf(ref);
    const source = await deps.connection(holder.serverId);
    const results = new Map<number, SendResult>();
    const missing: number[] = [];
    for (const serverId of serverIds) {
      const ssh = await deps.connection(serverId);
      if ((await remoteImageId(ssh, ref, TIMEOUT_MS, options.signal)) === holder.imageId) {
        options.onProgress?.(serverId, `already on ${ssh.target.host}: nothing sent`, 0, 0);
        results.set(serverId, { ok: true, bytesSent: 0 });
      } else missing.push(serverId);
    }
    if (missing.length === 0) return results;
    if (!(await canCopyFrom(source))) {
      for (const [id, r] of await relay(ref, source, missing, options)) results.set(id, r);
      return results;
    }
    let members: Promise<string[]> | undefined;
    const sharedMembers = () => (members ??= archiveMembers(source, ref));
    await Promise.all(
      missing.map(async (serverId) => {
        const ssh = await deps.connection(serverId);
        options.onProgress?.(serverId, `copying from ${source.target.host} (server to server)`, 0, 0);
        try {
          const copied = await copyImage(source, { ssh, ...deps.copyTarget(serverId) }, ref, holder.imageId, { signal: options.signal, members: sharedMembers });
          options.onProgress?.(serverId, `copied from ${source.target.host} in ${(copied.durationMs / 1000).toFixed(1)} s (${copied.layersSent} layers sent, ${copied.layersSkipped} already there): nothing sent from this machine`, 0, 0);
          results.set(serverId, { ok: true, bytesSent: 0 });
        } catch (err) {
          results.set(serverId, { ok: false, error: BerthError.from(err) });
        }
      }),
    );
    return results;
  }

  return { localId, localPlatform, present: local.present, send };
}
