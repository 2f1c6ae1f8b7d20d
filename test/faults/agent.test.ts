import { spawn, type ChildProcess } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBerth, type Berth } from '../../electron/main/app';
import {
  berthOnBed,
  buildModelImage,
  cleanModel,
  failed,
  loadBed,
  onServer,
  predict,
  removeLocalImages,
  repoRoot,
  startLoad,
  tagged,
  tb,
  until,
  type Answer,
} from './support';

/**
 * The servers keep themselves alive with every Berth closed (docs/AGENT.md): each runs an agent that watches its
 * peers, alerts once per incident, stands in replicas for a lost server, routes around dead replicas and catches up
 * before serving. Every fault below happens with no Berth process running (the test's Berth is closed first),
 * except the last, where a Berth process is suspended on purpose.
 */

const bed = loadBed();
const MODEL = 'kept';
const IMAGE = `berth-fault/${MODEL}:one`;
const REPLICAS = 2;
const hostAddress = bed.servers[0].host.replace(/\.\d+$/, '.1');
const names = bed.servers.map((s) => s.name);

interface Hook {
  receivedAt: number;
  body: { kind: string; status: 'open' | 'resolved'; incident: string; at: string; server: { name: string } | null; model: string | null; text: string };
}

/** The group's webhook: a receiver on the bed's own address, recording every POST. */
function startReceiver(): Promise<{ url: string; hooks: Hook[]; close(): void }> {
  const hooks: Hook[] = [];
  const server = http.createServer((req, res) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      hooks.push({ receivedAt: Date.now(), body: JSON.parse(Buffer.concat(chunks).toString()) });
      res.writeHead(204).end();
    });
  });
  return new Promise((resolve) =>
    server.listen(0, hostAddress, () => {
      const { port } = server.address() as AddressInfo;
      resolve({ url: `http://${hostAddress}:${port}/hook`, hooks, close: () => server.close() });
    }),
  );
}

let home: string;
let keep: string; // a key the load uses throughout
let revoked: { id: string; secret: string };
let receiver: Awaited<ReturnType<typeof startReceiver>>;
const previousAgentSetting = process.env.BERTH_SERVER_AGENT;

const auth = (secret: string) => ({ authorization: `Bearer ${secret}` });
const hooksFor = (kind: string, status: string, since: number) => receiver.hooks.filter((h) => h.body.kind === kind && h.body.status === status && h.receivedAt >= since);

/** Ready replicas of the model on a server, as its agent reports them (stand-ins included). */
function readyReplicas(server: number): { own: number; standIns: number } {
  const view = JSON.parse(onServer(bed, server, 'cat /var/lib/berth/agent/view.json')) as { replicas: Array<{ model: string; ready: boolean; standInFor: string | null }> };
  const ready = view.replicas.filter((r) => r.model === MODEL && r.ready);
  return { own: ready.filter((r) => !r.standInFor).length, standIns: ready.filter((r) => r.standInFor).length };
}

const standInContainers = (server: number) => onServer(bed, server, `docker ps -a -q --filter label=berth.standin --filter label=berth.model=${MODEL}`).split('\n').filter(Boolean).length;

const median = (values: number[]) => [...values].sort((a, b) => a - b)[Math.floor(values.length / 2)];

async function withBerth<T>(use: (berth: Berth) => Promise<T>): Promise<T> {
  const berth = createBerth({ home, mode: 'cli', version: 'faults' });
  try {
    await berth.ready;
    return await use(berth);
  } finally {
    berth.close();
  }
}

beforeAll(async () => {
  process.env.BERTH_SERVER_AGENT = 'on';
  receiver = await startReceiver();
  buildModelImage(IMAGE, { label: 'one' });
  cleanModel(bed, MODEL);
  const setup = await berthOnBed(bed, { replicas: REPLICAS });
  home = setup.home;
  const { berth } = setup;
  try {
    await berth.services.orchestrator.deploy({ model: MODEL, imageRef: IMAGE, group: 'prod', replicas: REPLICAS, memoryMb: 256, readyTimeoutMs: 60_000 }, () => undefined);
    await berth.services.groups.updateGroup('prod', { webhooks: [receiver.url] });
    keep = (await berth.services.access.createKey({ name: 'load', scope: { kind: 'model', model: MODEL } })).secret;
    const created = await berth.services.access.createKey({ name: 'to-revoke', scope: { kind: 'model', model: MODEL } });
    revoked = { id: created.key.id, secret: created.secret };
  } finally {
    berth.close();
  }
  // Every agent has the webhook and both keys before any fault.
  await until(() => [0, 1, 2].every((i) => onServer(bed, i, 'cat /var/lib/berth/gateway/routes.json').includes(revoked.id)), 20_000, 'every table to hold the keys');
  await until(() => [0, 1, 2].every((i) => readyReplicas(i).own === REPLICAS), 60_000, 'every replica ready');
}, 900_000);

afterAll(() => {
  receiver?.close();
  for (let i = 0; i < bed.servers.length; i++) {
    try {
      // The other fault files run without agents (their servers would otherwise be healed under them).
      onServer(bed, i, 'docker rm -f berth-agent >/dev/null 2>&1; rm -f /var/lib/berth/gateway/agent.json; rm -rf /var/lib/berth/agent; true');
    } catch {
      // a server left crashed by a failed test is restored by tb.sh up
    }
  }
  cleanModel(bed, MODEL);
  removeLocalImages([IMAGE]);
  if (previousAgentSetting === undefined) delete process.env.BERTH_SERVER_AGENT;
  else process.env.BERTH_SERVER_AGENT = previousAgentSetting;
});

describe('with every Berth closed, the agents keep the group alive', () => {
  it('a lost server: one alert, no failed request at the others, stand-ins within 30 s, one resolution, stand-ins gone (3 rounds)', async () => {
    const figures = { detection: [] as number[], alert: [] as number[], wanted: [] as number[], resolution: [] as number[], standInsGone: [] as number[], requests: [] as number[] };
    for (let round = 1; round <= 3; round++) {
      const load = startLoad(bed, { model: MODEL, rps: 200, servers: [0, 2], prefix: `lost-${round}`, maxSeconds: 180, headers: auth(keep) });
      await new Promise((r) => setTimeout(r, 1000));
      const crashedAt = Date.now();
      tb('crash', '2');
      const [alert] = await until(() => hooksFor('server_lost', 'open', crashedAt).length > 0 && hooksFor('server_lost', 'open', crashedAt), 15_000, 'the server_lost alert');
      expect(alert.body.server?.name).toBe(names[1]);
      figures.detection.push(Date.parse(alert.body.at) - crashedAt); // the bed's servers share the host's clock
      figures.alert.push(alert.receivedAt - crashedAt);
      await until(() => readyReplicas(0).own + readyReplicas(0).standIns + readyReplicas(2).own + readyReplicas(2).standIns >= 3 * REPLICAS, 40_000, 'the wanted replica count on the survivors');
      figures.wanted.push(Date.now() - crashedAt);
      const restoredAt = Date.now(); // from the command, which returns only once the server's sshd and dockerd run
      tb('restore', '2');
      const [resolution] = await until(() => hooksFor('server_lost', 'resolved', restoredAt).length > 0 && hooksFor('server_lost', 'resolved', restoredAt), 15_000, 'the resolution');
      expect(resolution.body.incident).toBe(alert.body.incident);
      figures.resolution.push(resolution.receivedAt - restoredAt);
      await until(() => standInContainers(0) + standInContainers(2) === 0, 90_000, 'the stand-ins to be removed');
      figures.standInsGone.push(Date.now() - restoredAt);
      const answers = await load.stop();
      expect(failed(answers), `failed requests at ${names[0]} and ${names[2]} in round ${round}`).toEqual([]);
      figures.requests.push(answers.length);
      await new Promise((r) => setTimeout(r, 3000)); // a late duplicate would arrive here
      expect(hooksFor('server_lost', 'open', crashedAt), 'server_lost alerts in this round').toHaveLength(1);
      expect(hooksFor('server_lost', 'resolved', crashedAt), 'resolutions in this round').toHaveLength(1);
      expect(readyReplicas(1).own).toBe(REPLICAS);
    }
    expect(median(figures.alert)).toBeLessThanOrEqual(10_000);
    expect(median(figures.resolution)).toBeLessThanOrEqual(10_000);
    expect(median(figures.wanted)).toBeLessThanOrEqual(30_000);
    console.log(
      `[measure] server lost (medians of 3): detected ${median(figures.detection)} ms after the crash (${figures.detection.join(', ')}); alert ${median(figures.alert)} ms (${figures.alert.join(', ')}); wanted replicas back ${median(figures.wanted)} ms ` +
        `(${figures.wanted.join(', ')}); resolution ${median(figures.resolution)} ms after restore (${figures.resolution.join(', ')}); stand-ins removed ` +
        `${median(figures.standInsGone)} ms after restore; ${figures.requests.join(' / ')} requests, 0 failed`,
    );
  });

  it("all replicas on a server killed: its gateway keeps answering through its peers' replicas", async () => {
    const load = startLoad(bed, { model: MODEL, rps: 50, servers: [0], prefix: 'killed', maxSeconds: 120, headers: auth(keep) });
    await new Promise((r) => setTimeout(r, 1000));
    onServer(bed, 0, `docker kill $(docker ps -q --filter label=berth.model=${MODEL}) >/dev/null`);
    const killedAt = Date.now();
    await new Promise((r) => setTimeout(r, 8000));
    await until(() => readyReplicas(0).own === REPLICAS, 60_000, `${names[0]}'s replicas to run again`);
    const answers = await load.stop();
    const inFlight = (a: Answer) => a.sentAt < killedAt;
    expect(failed(answers.filter((a) => !inFlight(a))), 'failed requests sent after the kill').toEqual([]);
    const via = onServer(bed, 0, `cat /var/lib/berth/logs/gateway/requests.jsonl | grep -F '"${tagged('killed')}-' | grep -c '"via":"' || true`).trim();
    expect(Number(via), 'requests that a peer served').toBeGreaterThan(0);
    console.log(`[measure] replicas killed on ${names[0]}: ${answers.length} requests, ${failed(answers).length} failed (all in flight at the kill), ${via} served through peers`);
  });

  it('a key revoked while a server was down is refused by it from its first request after restore', async () => {
    tb('crash', '3');
    try {
      await withBerth(async (berth) => {
        const { publish } = await berth.services.access.revokeKey(revoked.id);
        expect(JSON.stringify(publish)).toContain(names[0]);
      });
    } catch (err) {
      tb('restore', '3');
      throw err;
    }
    const answers: Answer[] = [];
    let stop = false;
    const hammer = (async () => {
      for (let i = 0; i < 2000 && !stop; i++) {
        answers.push(await predict(bed, 2, MODEL, 'latest', { headers: auth(revoked.secret), timeoutMs: 30_000 }));
        await new Promise((r) => setTimeout(r, 50));
      }
    })();
    tb('restore', '3');
    await until(() => answers.some((a) => a.status === 401), 60_000, `${names[2]} to answer the revoked key`);
    await new Promise((r) => setTimeout(r, 2000));
    stop = true;
    await hammer;
    const answered = answers.filter((a) => a.status !== 0);
    expect(answered.filter((a) => a.status === 200), 'requests the revoked key got through').toEqual([]);
    expect(answered[0].status).toBe(401);
    expect((await predict(bed, 2, MODEL, 'latest', { headers: auth(keep) })).status).toBe(200);
    console.log(`[measure] revoked while down: ${answered.length} answers from ${names[2]} after restore, first ${answered[0].status}, none 200`);
  });

  it('a model that crash-loops or runs out of memory raises one alert per incident, not one per restart', async () => {
    const since = Date.now();
    for (let i = 0; i < 4; i++) {
      await predict(bed, 0, MODEL, 'latest', { body: { inputs: 'crash' }, headers: auth(keep) });
      await new Promise((r) => setTimeout(r, 2500));
    }
    await until(() => hooksFor('replica_crash_loop', 'open', since).length > 0, 30_000, 'the crash-loop alert');
    const oomSince = Date.now();
    for (let i = 0; i < 2; i++) {
      await predict(bed, 2, MODEL, 'latest', { body: { inputs: 'hog' }, headers: auth(keep), timeoutMs: 30_000 });
      await new Promise((r) => setTimeout(r, 3000));
    }
    await until(() => hooksFor('replica_oom', 'open', oomSince).length > 0, 30_000, 'the OOM alert');
    await new Promise((r) => setTimeout(r, 5000));
    expect(hooksFor('replica_crash_loop', 'open', since), 'crash-loop alerts').toHaveLength(1);
    expect(hooksFor('replica_oom', 'open', since), 'OOM alerts').toHaveLength(1);
    console.log(`[measure] crash loop: 4 crashes on ${names[0]} → 1 alert; 2 OOM kills on ${names[2]} → 1 alert`);
  });

  it('a Berth process suspended for 30 s (the laptop asleep) raises no alert', async () => {
    const child: ChildProcess = spawn(process.execPath, [join(repoRoot, 'out/main/web.js')], {
      env: { ...process.env, BERTH_HOME: home, BERTH_WEB_PORT: '0' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    try {
      await new Promise((r) => setTimeout(r, 15_000)); // its monitor has reached every server
      const since = Date.now();
      const sinceIso = new Date(since).toISOString();
      child.kill('SIGSTOP');
      await new Promise((r) => setTimeout(r, 30_000));
      child.kill('SIGCONT');
      await new Promise((r) => setTimeout(r, 15_000));
      // Resolutions of the earlier tests' incidents may arrive meanwhile; no incident may open.
      expect(receiver.hooks.filter((h) => h.receivedAt >= since && h.body.status === 'open').map((h) => h.body.text), 'alerts sent').toEqual([]);
      const db = new Database(join(home, 'berth.db'), { readonly: true });
      const opened = db.prepare('SELECT kind, subject FROM alerts WHERE opened_at >= ?').all(sinceIso);
      db.close();
      expect(opened, 'alerts the Berth process opened').toEqual([]);
    } finally {
      child.kill('SIGKILL');
    }
  });
});
