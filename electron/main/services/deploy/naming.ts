/** Names and labels of what Berth runs on a server (see docs/ARCHITECTURE.md). */
export const BERTH_DIR = '/var/lib/berth';
export const FIRST_REPLICA_PORT = 9100;

export const replicaName = (model: string, version: number, index: number) => `berth-${model}-v${version}-r${index}`;

export const labels = {
  model: 'berth.model',
  version: 'berth.version',
  replica: 'berth.replica',
  port: 'berth.port',
  operation: 'berth.operation',
} as const;
export const GATEWAY_PORT = 8700;
