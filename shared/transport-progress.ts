/** Progress and results of moving a local image to servers over SSH (services/transport/image-transport.ts). */
import type { SerializedError } from './errors';

export type ImageTransferPhase = 'comparing' | 'sending' | 'loading' | 'verifying' | 'done' | 'failed';

export interface ImageTransferProgress {
  serverId: number;
  phase: ImageTransferPhase;
  /** A short human-readable line for logs and the deploy view. */
  message: string;
  /** Bytes written to this server's SSH channel (gzip-compressed when the server has gzip). */
  bytesSent: number;
  /** Uncompressed tar bytes packed for this server so far; compare with bytesTotal for a percentage. */
  bytesPacked: number;
  /** Estimated uncompressed bytes to pack: the sizes of the layers the server lacks (0 when nothing is sent). */
  bytesTotal: number;
  layersSent: number;
  layersSkipped: number;
  layersTotal: number;
  error?: SerializedError;
}

export interface ImageTransferStats {
  bytesSent: number;
  bytesPacked: number;
  layersSent: number;
  layersSkipped: number;
  durationMs: number;
  /** The server already had this image id under this reference: nothing was sent. */
  alreadyPresent: boolean;
}
