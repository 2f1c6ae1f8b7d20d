import { BerthError } from '../../../../shared/errors';
import { docker, script, type RemoteCommand } from '../remote/command';
import type { ExecOptions, ExecResult } from './ssh';
import type { ClientChannel } from 'ssh2';

/** The part of an SSH connection image transport uses (SshConnection fits; tests may fake it). */
export interface ImageShell {
  readonly target: { host: string };
  exec(command: RemoteCommand, options?: ExecOptions): Promise<ExecResult>;
  run(command: RemoteCommand, options?: ExecOptions): Promise<string>;
  stream(command: RemoteCommand): Promise<ClientChannel>;
}

/** What a server holds that matters for sending one image. */
export interface RemoteInventory {
  /** The image id the reference names on the server, if any. */
  refId: string | null;
  /** The server has the image id (perhaps under another name). */
  hasId: boolean;
  /** gzip is installed, so the stream can be compressed. */
  gzip: boolean;
  /** The engine keeps images in containerd's store, whose `docker load` wants every blob: send all layers. */
  containerdStore: boolean;
  /** The diff-id list of every image on the server. */
  layerLists: string[][];
}

/** Longest inventory kept: more layer lists than that only means more layers are sent again. */
const MAX_LAYER_LINES = 20_000;

/**
 * One round trip: what the reference is ($1), whether the image id ($2) is there, which layers exist, and whether
 * gzip is there. Zero images is fine. berth-shell's `image-inventory` prints the same, without gzip: its `load`
 * takes a plain tar.
 */
export function inventoryScript(ref: string, imageId: string): RemoteCommand {
  const text = [
    `ids=$(docker image ls -aq --no-trunc) || exit 1`,
    `printf 'ref=%s\\n' "$(docker image inspect --format '{{.Id}}' "$1" 2>/dev/null)"`,
    `if docker image inspect --format '{{.Id}}' "$2" >/dev/null 2>&1; then echo has-id=yes; fi`,
    `if command -v gzip >/dev/null 2>&1; then echo gzip=yes; fi`,
    `printf 'driver=%s\\n' "$(docker info --format '{{json .DriverStatus}}' 2>/dev/null)"`,
    `if [ -n "$ids" ]; then docker image inspect --format 'layers={{json .RootFS.Layers}}' $(printf '%s\\n' $ids | sort -u) 2>/dev/null | sort -u | head -n ${MAX_LAYER_LINES}; fi`,
    `exit 0`,
  ].join('\n');
  return script(text, ref, imageId).asVerb(['image-inventory', ref, imageId]);
}

export function parseInventory(stdout: string): RemoteInventory {
  const inventory: RemoteInventory = { refId: null, hasId: false, gzip: false, containerdStore: false, layerLists: [] };
  for (const line of stdout.split('\n')) {
    const eq = line.indexOf('=');
    if (eq < 0) continue;
    const key = line.slice(0, eq);
    const value = line.slice(eq + 1).trim();
    if (key === 'ref') inventory.refId = /^sha256:[0-9a-f]{64}$/.test(value) ? value : null;
    else if (key === 'has-id') inventory.hasId = value === 'yes';
    else if (key === 'gzip') inventory.gzip = value === 'yes';
    else if (key === 'driver') inventory.containerdStore = value.includes('io.containerd.snapshotter');
    else if (key === 'layers') {
      try {
        const list = JSON.parse(value) as unknown;
        if (Array.isArray(list) && list.every((d) => typeof d === 'string')) inventory.layerLists.push(list);
      } catch {
        // a line cut by `head` or an odd engine: that image's layers count as missing
      }
    }
  }
  return inventory;
}

export async function readInventory(ssh: ImageShell, ref: string, imageId: string, timeoutMs: number, signal?: AbortSignal): Promise<RemoteInventory> {
  const result = await ssh.exec(inventoryScript(ref, imageId), { timeoutMs, signal });
  if (result.code !== 0) {
    throw new BerthError(
      'RemoteCommandFailed',
      `Cannot list the images on ${ssh.target.host} (exit ${result.code}): ${result.stderr.trim() || 'no error output'}. Is Docker running there, and may this user use it?`,
    );
  }
  return parseInventory(result.stdout.toString());
}

/** Reads a (maybe gzip-compressed) image tar from stdin into the engine; atomic per image (no tag on failure). */
export const loadCommand = (compressed: boolean) => (compressed ? script('gzip -dc | docker load') : docker('load').asVerb(['load']));

/** The image id a reference names on the server, or null. */
export async function remoteImageId(ssh: ImageShell, ref: string, timeoutMs: number, signal?: AbortSignal): Promise<string | null> {
  const result = await ssh.exec(docker('image', 'inspect', '--format', '{{.Id}}', ref).asVerb(['image-id', ref]), { timeoutMs, signal });
  const id = result.stdout.toString().trim();
  return result.code === 0 && id ? id : null;
}

export async function tagRemote(ssh: ImageShell, imageId: string, ref: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  await ssh.run(docker('tag', imageId, ref).asVerb(['tag', imageId, ref]), { timeoutMs, signal });
}

/** After a load: the reference must name exactly the local image id. */
export async function verifyRemote(ssh: ImageShell, ref: string, expectedId: string, timeoutMs: number, signal?: AbortSignal): Promise<void> {
  const got = await remoteImageId(ssh, ref, timeoutMs, signal);
  if (got !== expectedId) {
    throw new BerthError(
      'RemoteCommandFailed',
      got === null
        ? `${ssh.target.host}: docker load finished but ${ref} is not there (expected image ${expectedId})`
        : `${ssh.target.host}: ${ref} is image ${got} after the load, but the local image is ${expectedId}`,
      { expected: expectedId, got },
    );
  }
}
