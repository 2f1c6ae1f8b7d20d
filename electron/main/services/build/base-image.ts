import type Docker from 'dockerode';
import { BerthError } from '../../../../shared/errors';
import type { BaseImageInfo } from '../../../../shared/types';

/** Whether the engine holds `image`, and its size; an absent image is pulled by the first build that needs it. */
export async function inspectBaseImage(docker: Docker, image: string): Promise<BaseImageInfo> {
  try {
    const { Size } = await docker.getImage(image).inspect();
    return { image, present: true, sizeBytes: Size };
  } catch (err) {
    if ((err as { statusCode?: number }).statusCode === 404) return { image, present: false, sizeBytes: null };
    throw new BerthError('DockerUnavailable', `Could not inspect ${image}: ${err instanceof Error ? err.message : String(err)}`);
  }
}
