import { describe, expect, it } from 'vitest';
import type { GroupView } from '../../../shared/servers';
import { createGatewayManager, type GatewayManagerDeps } from '../../../electron/main/services/deploy/gateway-manager';
import { RecordingShell } from '../support/recording-shell';

const SERVERS = [
  { id: 1, name: 'tb1', host: '10.77.8.11' },
  { id: 2, name: 'tb2', host: 'tb2.lab.example' },
];

/** Two servers whose gateways already run the right image; `steps` records what happened, in order. */
function manager(groups: Array<Pick<GroupView, 'name' | 'tls' | 'listen'>>, running: Record<string, { image: string; version: string }> = {}) {
  const steps: string[] = [];
  const shells = new Map(
    SERVERS.map((s) => {
      const shell = new RecordingShell(
        [
          ['docker image inspect', { stdout: 'sha256:1111\n' }],
          [
            'docker inspect',
            () => (
              steps.push(`inspect ${s.name}`),
              { stdout: JSON.stringify({ id: 'c0ffee', image: running[s.name]?.image ?? 'sha256:1111', running: true, env: ['BERTH_GATEWAY_LISTEN=:8700'], version: running[s.name]?.version }) }
            ),
          ],
        ],
        { host: s.host },
      );
      return [s.id, shell] as const;
    }),
  );
  const deps: GatewayManagerDeps = {
    local: { version: '0.2.0', image: async () => 'berth/gateway:1', shellBinary: async () => { throw new Error('unused'); } },
    images: { send: async (_tag, ids) => new Map(ids.map((id) => [id, { ok: true as const, bytesSent: 0 }])), present: async () => true, localId: async () => 'sha256:1111', localPlatform: async () => 'linux/amd64' },
    connection: async (id) => shells.get(id)!.connection,
    platformOf: async () => 'linux/amd64',
    port: 8700,
    agentLayout: null,
    registry: {
      get: (id) => SERVERS.find((s) => s.id === id) as never,
      group: (name) => groups.find((g) => g.name === name) as GroupView,
      groupsOf: () => groups.map((g) => g.name),
    },
    certificates: async (group, ids) => void steps.push(`certificates ${group} ${ids.join(',')}`),
  };
  return { gateways: createGatewayManager(deps), steps, shells };
}

describe('the gateway manager', () => {
  it('installs an HTTPS group’s certificates before it touches any gateway', async () => {
    const { gateways, steps } = manager([{ name: 'prod', tls: 'https', listen: 'all' }]);
    await gateways.ensure([1, 2], { maxMb: 50, maxDays: 30 }, { group: 'prod' });
    expect(steps).toEqual(['certificates prod 1,2', 'inspect tb1', 'inspect tb1', 'inspect tb2', 'inspect tb2']);
  });

  it('issues nothing for a group that serves plain HTTP, nor when no group is named', async () => {
    const plain = manager([{ name: 'prod', tls: 'off', listen: 'all' }]);
    await plain.gateways.ensure([1], { maxMb: 50, maxDays: 30 }, { group: 'prod' });
    const unnamed = manager([{ name: 'prod', tls: 'https', listen: 'all' }]);
    await unnamed.gateways.ensure([1], { maxMb: 50, maxDays: 30 });
    expect([...plain.steps, ...unnamed.steps].filter((s) => s.startsWith('certificates'))).toEqual([]);
  });

  it('binds a gateway to its server’s address when a group of the server asks, refusing a server registered by name', async () => {
    const { gateways, shells } = manager([
      { name: 'prod', tls: 'off', listen: 'all' },
      { name: 'edge', tls: 'off', listen: 'host' },
    ]);
    await expect(gateways.ensure([1, 2], { maxMb: 50, maxDays: 30 })).rejects.toMatchObject({
      kind: 'ValidationError',
      message: expect.stringContaining('tb2 is registered as "tb2.lab.example", not an IP address'),
    });
    // tb1 went first (one server at a time): its gateway listening everywhere was replaced by one on its address.
    expect(shells.get(1)!.commands.find((c) => c.startsWith('docker run'))).toContain('-e BERTH_GATEWAY_LISTEN=10.77.8.11:8700,127.0.0.1:8700');
  });

  it("keeps a teammate's newer gateway and says so, and still upgrades the older one after it", async () => {
    const { gateways, shells } = manager([{ name: 'prod', tls: 'off', listen: 'all' }], {
      tb1: { image: 'sha256:9999', version: '0.3.0' },
      tb2: { image: 'sha256:0000', version: '0.1.0' },
    });
    const log: string[] = [];
    await gateways.ensure([1, 2], { maxMb: 50, maxDays: 30 }, { log: (m) => log.push(m) });
    expect(log).toEqual(['10.77.8.11 runs the gateway of Berth 0.3.0, newer than this Berth (0.2.0): kept. Upgrade this Berth to change it.']);
    expect(shells.get(1)!.commands.some((c) => c.startsWith('docker run') || c.includes('docker rm'))).toBe(false);
    expect(shells.get(2)!.commands.filter((c) => c.startsWith('docker run'))).toHaveLength(1);
  });
});
