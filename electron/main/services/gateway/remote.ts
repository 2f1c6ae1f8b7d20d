import type { SshConnection } from '../transport/ssh';

/** What the gateway services need of a server connection (an SshConnection, or a fake in unit tests). */
export type RemoteShell = Pick<SshConnection, 'run' | 'exec'> & { target: { host: string } };

/** Where Berth keeps the gateway's files on a server (see docs/ARCHITECTURE.md). */
export const GATEWAY_DIR = '/var/lib/berth/gateway';
export const ROUTES_PATH = `${GATEWAY_DIR}/routes.json`;
export const GATEWAY_LOG_DIR = '/var/lib/berth/logs/gateway';
export const GATEWAY_CONTAINER = 'berth-gateway';
export const DEFAULT_GATEWAY_PORT = 8700;
