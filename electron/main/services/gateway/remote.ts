import type { SshConnection } from '../transport/ssh';

/** What the gateway services need of a server connection (an SshConnection, or a fake in unit tests). */
export type RemoteShell = Pick<SshConnection, 'run' | 'exec'> & { target: { host: string } };

/** Where Berth keeps the gateway's files on a server (see docs/ARCHITECTURE.md). */
export const GATEWAY_DIR = '/var/lib/berth/gateway';
export const ROUTES_PATH = `${GATEWAY_DIR}/routes.json`;
export const GATEWAY_LOG_DIR = '/var/lib/berth/logs/gateway';
export const GATEWAY_CONTAINER = 'berth-gateway';
export const DEFAULT_GATEWAY_PORT = 8700;

/** One gateway on a server: its container and host folders. Berth runs one (the default); tests run their own beside it. */
export interface GatewayInstance {
  container: string;
  /** Holds routes.json; mounted read-only at /etc/berth-gateway. */
  dir: string;
  /** The request log; mounted at /var/log/berth-gateway. */
  logDir: string;
}

export const DEFAULT_GATEWAY: GatewayInstance = { container: GATEWAY_CONTAINER, dir: GATEWAY_DIR, logDir: GATEWAY_LOG_DIR };

export const routesPathOf = (instance: GatewayInstance) => `${instance.dir}/routes.json`;
