import { BerthError } from './errors';

/**
 * Platforms (`linux/amd64`, `linux/arm64`): what a server runs and what an image is built for. One image runs on one
 * platform (no registry here, so no multi-platform manifests), so a group deploys one platform's images.
 */

/** Docker's `Architecture` (uname -m), Go/OCI and Node's names, as the OCI platform's architecture. */
const ARCHITECTURES: Record<string, string> = {
  x86_64: 'amd64',
  amd64: 'amd64',
  x64: 'amd64',
  aarch64: 'arm64',
  arm64: 'arm64',
  armv7l: 'arm/v7',
  ppc64le: 'ppc64le',
  s390x: 's390x',
  riscv64: 'riscv64',
};

/** A server's platform from its facts' `arch`; Berth's servers are Linux. Null when Docker reported nothing usable. */
export function platformOfArch(arch: string | null | undefined): string | null {
  if (!arch) return null;
  const name = ARCHITECTURES[arch] ?? (arch === 'unknown' ? undefined : arch);
  return name ? `linux/${name}` : null;
}

/** An image's platform from `docker image inspect` (arm64's `v8` variant is the only one and not named). */
export function imagePlatform(image: { Os?: string; Architecture?: string; Variant?: string }): string {
  const variant = image.Variant && !(image.Architecture === 'arm64' && image.Variant === 'v8') ? `/${image.Variant}` : '';
  return `${image.Os || 'linux'}/${image.Architecture || 'unknown'}${variant}`;
}

export interface ServerPlatform {
  name: string;
  /** Null: not known yet (Berth has not read the server's facts). */
  platform: string | null;
}

export interface GroupPlatforms {
  /** The group's one platform; null when its servers mix platforms or one's is not known yet. */
  platform: string | null;
  /** Every platform its servers run, sorted; more than one: the group is mixed. */
  platforms: string[];
}

/** The servers of each platform, platforms sorted. */
function serversByPlatform(servers: ServerPlatform[]): Map<string, string[]> {
  const by = new Map<string, string[]>();
  for (const s of servers) if (s.platform) by.set(s.platform, [...(by.get(s.platform) ?? []), s.name]);
  return new Map([...by].sort(([a], [b]) => a.localeCompare(b)));
}

export function groupPlatforms(servers: ServerPlatform[]): GroupPlatforms {
  const platforms = [...serversByPlatform(servers).keys()];
  const allKnown = servers.every((s) => s.platform !== null);
  return { platform: platforms.length === 1 && allKnown ? platforms[0] : null, platforms };
}

const names = (list: string[]) => (list.length === 1 ? list[0] : `${list.slice(0, -1).join(', ')} and ${list.at(-1)}`);

/** The group's platform, refusing a group whose servers mix platforms (naming the servers of each). */
export function onePlatform(group: string, servers: ServerPlatform[]): string | null {
  const by = serversByPlatform(servers);
  if (by.size > 1) {
    const sides = [...by].map(([platform, list]) => `${platform} (${list.join(', ')})`);
    throw new BerthError(
      'Conflict',
      `Group "${group}" mixes platforms: ${names(sides)}. An image runs on one platform: deploy to a group whose servers share one (move the others to a group of their own).`,
      { platforms: Object.fromEntries(by) },
    );
  }
  return [...by.keys()][0] ?? null;
}

/** Refuses an image built for another platform than the servers it would go to, saying what to do. */
export function requireImagePlatform(imageRef: string, image: string, group: string, servers: ServerPlatform[]): void {
  const platform = onePlatform(group, servers);
  if (!platform || platform === image) return;
  const list = servers.filter((s) => s.platform === platform).map((s) => s.name);
  throw new BerthError(
    'Conflict',
    `${imageRef} is ${image}, ${names(list)} ${list.length === 1 ? 'is' : 'are'} ${platform}: build for ${platform} (the group's platform) or on a server of the group`,
    { image, platform },
  );
}
