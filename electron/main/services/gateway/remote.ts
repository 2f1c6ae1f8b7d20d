import { BERTH_DIR, GATEWAY_CONTAINER } from '../remote/layout';
import type { SshConnection } from '../transport/ssh';

/** What the gateway services need of a server connection (an SshConnection, or a fake in unit tests). */
export type RemoteShell = Pick<SshConnection, 'run' | 'exec'> & { target: { host: string } };

/** One gateway on a server: its container and host folders. Berth runs one (the default); tests run their own beside it. */
export interface GatewayInstance {
  container: string;
  /** Holds routes.json; mounted read-only at /etc/berth-gateway. */
  dir: string;
  /** The request log; mounted at /var/log/berth-gateway. */
  logDir: string;
}

/** Berth's own gateway (see docs/ARCHITECTURE.md). */
export const DEFAULT_GATEWAY: GatewayInstance = { container: GATEWAY_CONTAINER, dir: `${BERTH_DIR}/gateway`, logDir: `${BERTH_DIR}/logs/gateway` };

export const routesPathOf = (instance: GatewayInstance) => `${instance.dir}/routes.json`;
