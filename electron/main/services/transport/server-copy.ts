/**
 * Server-to-server image copy: the server that holds an image (a remote build's) streams `docker save` straight to
 * another server's `docker load` over SSH, so the image never crosses the laptop's link. The source logs in to the
 * target with a key made for this one copy: its line on the target is `restrict,command="docker load"` (it can do
 * nothing else), it trusts only the target's pinned host key, and both the line and the key are removed afterwards
 * whatever happens.
 */
import { randomBytes } from 'node:crypto';
import { utils } from 'ssh2';
import { BerthError } from '../../../../shared/errors';
import { docker, script } from '../remote/command';
import { fingerprintOf } from './host-key';
import { readInventory, remoteImageId } from './image-remote';
import { chainIds, missingLayers, presentChains } from './image-layers';
import type { SshConnection } from './ssh';

export interface CopyTarget {
  ssh: SshConnection;
  /** How the source reaches the target: the address, port and login Berth registered. */
  host: string;
  port: number;
  username: string;
  /** The target's pinned host key fingerprint (SHA256:…), the registry's. */
  hostKeyFingerprint: string;
}

export interface CopyResult {
  durationMs: number;
  layersSent: number;
  layersSkipped: number;
}

/**
 * The layer tars of the archive the target already holds (by chain id, as the laptop's transport compares), to be
 * left out. None when the target keeps images in containerd's store (its load wants every blob) or lacks them all.
 */
export async function layersTargetHolds(
  source: SshConnection,
  target: SshConnection,
  image: string,
  imageId: string,
  members: () => Promise<string[]> = () => archiveMembers(source, image),
): Promise<{ leaveOut: string[]; total: number }> {
  const inventory = await readInventory(target, image, imageId, 30_000);
  const diffIds = JSON.parse(await source.run(docker('image', 'inspect', '--format', '{{json .RootFS.Layers}}', image), { timeoutMs: 30_000 })) as string[];
  const missing = missingLayers(chainIds(diffIds), presentChains(inventory.layerLists));
  if (inventory.containerdStore || missing.every(Boolean)) return { leaveOut: [], total: diffIds.length };
  const layers = await members();
  if (layers.length !== diffIds.length) return { leaveOut: [], total: diffIds.length };
  // A member named twice (the same layer at two depths) may go only if every place it stands is held.
  const needed = new Set(layers.filter((_, i) => missing[i]));
  return { leaveOut: [...new Set(layers.filter((m, i) => !missing[i] && !needed.has(m)))], total: diffIds.length };
}

/** The archive's layer members in layer order (one whole `docker save` read on the source: share it between targets). */
export async function archiveMembers(source: SshConnection, image: string): Promise<string[]> {
  const manifest = JSON.parse(await source.run(serverCopyCommands.manifest(image), { timeoutMs: 10 * 60_000 })) as Array<{ Layers?: string[] }>;
  return manifest[0]?.Layers ?? [];
}

/** The alias under which the one-time known_hosts names the target (whatever its address or port). */
const HOST_ALIAS = 'berth-copy-target';
const COPY_TIMEOUT_MS = 30 * 60_000;

/** The server-side scripts of a copy: constant text, values only as positional parameters. */
export const serverCopyCommands = {
  hasSshClient: () => script('command -v ssh >/dev/null && command -v ssh-keyscan >/dev/null'),
  /** $1 the line to append to the login's authorized_keys (after Berth's block, never inside it). */
  authorize: (line: string) =>
    script('mkdir -p "$HOME/.ssh" && chmod 700 "$HOME/.ssh" && f="$HOME/.ssh/authorized_keys" && { [ ! -s "$f" ] || [ -z "$(tail -c1 "$f")" ] || echo >> "$f"; } && printf "%s\\n" "$1" >> "$f" && chmod 600 "$f"', line),
  /** $1 the comment that names the line; the file is rewritten in place (same inode, owner and mode). */
  revoke: (comment: string) =>
    script('f="$HOME/.ssh/authorized_keys"; [ -f "$f" ] || exit 0; t=$(mktemp) && { grep -vF -- " $1" "$f" > "$t" || true; } && cat "$t" > "$f"; rm -f "$t"', comment),
  makeDir: () => script('d=$(mktemp -d /tmp/berth-copy.XXXXXX) && chmod 700 "$d" && echo "$d"'),
  /** $1 the folder, $2 the file name; the content is stdin. */
  writeFile: (dir: string, name: string) => script('umask 077 && cat > "$1/$2"', dir, name),
  keyscan: (host: string, port: number) => script('ssh-keyscan -T 10 -p "$2" "$1" 2>/dev/null', host, port),
  /** The save archive's manifest.json: its Layers are the archive's layer members, in the image's layer order. */
  manifest: (image: string) => script('docker save "$1" | tar -xO -f - manifest.json', image),
  /**
   * $1 image, $2 folder, $3 port, $4 user@host, $5 the host alias, then the archive members to leave out (the layers
   * the target holds: `docker load` takes a layer it has from its store, as the laptop's transport relies on).
   */
  copy: (image: string, dir: string, port: number, login: string, leaveOut: readonly string[] = []) =>
    script(
      'i=$1 d=$2 p=$3 l=$4 a=$5; shift 5; if [ $# -gt 0 ]; then docker save "$i" | tar --delete -f - "$@"; else docker save "$i"; fi | ssh -i "$d/key" -o IdentitiesOnly=yes -o BatchMode=yes -o Compression=no -o UserKnownHostsFile="$d/known_hosts" -o GlobalKnownHostsFile=/dev/null -o StrictHostKeyChecking=yes -o HostKeyAlias="$a" -p "$p" "$l" docker load',
      image, dir, port, login, HOST_ALIAS, ...leaveOut,
    ),
  removeDir: (dir: string) => script('rm -rf "$1"', dir),
};

/** Whether the server can copy to another by itself (an OpenSSH client and ssh-keyscan). */
export async function canCopyFrom(source: SshConnection): Promise<boolean> {
  return (await source.exec(serverCopyCommands.hasSshClient(), { timeoutMs: 15_000 })).code === 0;
}

/**
 * The target's host key as the source sees it, accepted only if its fingerprint is the one Berth pinned: the
 * registry keeps fingerprints, so the key itself is read by ssh-keyscan on the source and checked here.
 */
export async function pinnedHostKeyLine(source: SshConnection, target: CopyTarget): Promise<string> {
  const scanned = await source.run(serverCopyCommands.keyscan(target.host, target.port), { timeoutMs: 30_000 });
  for (const line of scanned.split('\n')) {
    const [, type, blob] = line.trim().split(/\s+/);
    if (!type || !blob || line.startsWith('#')) continue;
    if (fingerprintOf(Buffer.from(blob, 'base64')) === target.hostKeyFingerprint) return `${HOST_ALIAS} ${type} ${blob}`;
  }
  throw new BerthError(
    'HostKeyMismatch',
    `${source.target.host} sees no host key of ${target.host}:${target.port} with the fingerprint Berth pinned (${target.hostKeyFingerprint}): the image was not copied. Someone may be intercepting the servers' link, or the target was reinstalled.`,
  );
}

/** Copies `image` from `source` to the target; the image id on the target must then be `imageId`. */
export async function copyImage(
  source: SshConnection,
  target: CopyTarget,
  image: string,
  imageId: string,
  options: { signal?: AbortSignal; members?: () => Promise<string[]> } = {},
): Promise<CopyResult> {
  const { signal } = options;
  const started = Date.now();
  const comment = `berth-transfer-${randomBytes(8).toString('hex')}`;
  const keys = utils.generateKeyPairSync('ed25519', { comment });
  const knownHost = await pinnedHostKeyLine(source, target);
  let dir: string | null = null;
  const { leaveOut, total } = await layersTargetHolds(source, target.ssh, image, imageId, options.members);
  try {
    await target.ssh.run(serverCopyCommands.authorize(`restrict,command="docker load" ${keys.public.trim()}`), { timeoutMs: 30_000 });
    dir = (await source.run(serverCopyCommands.makeDir(), { timeoutMs: 15_000 })).trim();
    await source.run(serverCopyCommands.writeFile(dir, 'key'), { stdin: keys.private, timeoutMs: 15_000 });
    await source.run(serverCopyCommands.writeFile(dir, 'known_hosts'), { stdin: `${knownHost}\n`, timeoutMs: 15_000 });
    await source.run(serverCopyCommands.copy(image, dir, target.port, `${target.username}@${target.host}`, leaveOut), { timeoutMs: COPY_TIMEOUT_MS, signal });
  } finally {
    await target.ssh.run(serverCopyCommands.revoke(comment), { timeoutMs: 30_000 }).catch(() => undefined);
    if (dir) await source.run(serverCopyCommands.removeDir(dir), { timeoutMs: 15_000 }).catch(() => undefined);
  }
  const loaded = await remoteImageId(target.ssh, image, 30_000, signal);
  if (loaded !== imageId) {
    throw new BerthError('RemoteCommandFailed', `${target.host} does not hold ${image} as ${imageId.slice(0, 19)} after the copy from ${source.target.host} (it has ${loaded ?? 'nothing'})`);
  }
  return { durationMs: Date.now() - started, layersSent: total - leaveOut.length, layersSkipped: leaveOut.length };
}
