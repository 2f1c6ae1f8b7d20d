import { execFileSync } from 'node:child_process';
import { appendFileSync, existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterAll, beforeAll, beforeEach, describe, expect, it } from 'vitest';
import type { Berth } from '../../electron/main/app';
import type { DeployEvent } from '../../shared/deploy';
import { bedDir } from '../integration/bed';
import {
  auditDelivered,
  berthOnBed,
  buildModelImage,
  cleanModel,
  containersOf,
  failed,
  labels,
  loadBed,
  lockHeld,
  loggedRequestIds,
  missingFromLogs,
  onServer,
  predict,
  removeLocalImages,
  startLoad,
  tagged,
  tb,
  until,
  type Answer,
} from './support';

/**
 * Faults on servers, links, disks and models while Berth deploys and traffic flows. Each test ends with what the
 * user saw (the error) and the proof nothing was lost: v1 still serving, not one failed request at the servers that
 * stayed up, every answered request in that server's inference log, and the audit entry on every reachable server.
 */

const bed = loadBed();
const MODEL = 'faulty';
const images = {
  one: `berth-fault/${MODEL}:one`,
  two: `berth-fault/${MODEL}:two`,
  heavy: `berth-fault/${MODEL}:heavy`,
  broken: `berth-fault/${MODEL}:broken`,
  hog: `berth-fault/${MODEL}:hog`,
};
const all = bed.servers.map((_, i) => i);
const names = bed.servers.map((s) => s.name);
const THIRD = bed.servers.length - 1; // the server the faults hit
const survivors = all.filter((i) => i !== THIRD);
let berth: Berth;

function deploy(imageRef: string, events: DeployEvent[] = [], extra: Record<string, unknown> = {}) {
  return berth.services.orchestrator.deploy(
    { model: MODEL, imageRef, group: 'prod', replicas: 2, memoryMb: 256, readyTimeoutMs: 60_000, ...extra },
    (e: DeployEvent) => events.push(e),
  );
}

/** The containers of one version on a server (what a failed deploy of it must not leave behind). */
const containersOfVersion = (server: number, version: number) => containersOf(bed, server, MODEL).filter((c) => c.startsWith(`berth-${MODEL}-v${version}-`));

/** The proof after a failed deploy: v1 serving, no failed request, logs complete, nothing left over, audited. */
async function nothingLost(answers: Answer[], prefix: string, servers: number[], versionNumber: number) {
  expect(await labels(bed, MODEL, 'latest', servers)).toEqual(servers.map(() => 'one'));
  expect(failed(answers), 'failed requests at the servers that stayed up').toEqual([]);
  expect(answers.every((a) => a.label === 'one')).toBe(true);
  expect(answers.length).toBeGreaterThan(20);
  expect(await missingFromLogs(bed, answers, prefix), 'answered requests missing from the inference logs').toEqual([]);
  for (const i of servers) {
    expect(containersOfVersion(i, versionNumber), `leftover containers on ${names[i]}`).toEqual([]);
    expect(lockHeld(bed, i, MODEL), `lock left on ${names[i]}`).toBe(false);
  }
  const audit = await auditDelivered(berth, { action: 'deploy', target: `${MODEL} v${versionNumber}` }, servers.map((i) => names[i]));
  expect(audit.delivered.map((e) => e.result)).toEqual(['failed']);
  expect(berth.services.deployStore.versionByNumber(berth.services.deployStore.model(MODEL).id, versionNumber).state).toBe('failed');
  console.log(`[measure] ${prefix}: ${answers.length} requests during the fault, ${failed(answers).length} failed, logs complete`);
}

const nextVersion = () => {
  const store = berth.services.deployStore;
  return Math.max(0, ...store.versions(store.model(MODEL).id).map((v) => v.number)) + 1;
};

/** Waits until a restored server serves v1 again (Docker restarts its replicas and gateway on boot). */
async function servesOneAgain(server: number) {
  await until(async () => (await labels(bed, MODEL, 'latest', [server]))[0] === 'one', 60_000, `${names[server]} to serve v1 again`);
}

/**
 * A model lock taken on a server that then died cannot be released by the failed deploy: it is still there when the
 * server returns (`stale`: the server went away holding it). It never blocks the next operation (locks are held by a
 * majority): that operation takes the model's lock at once, not after the stale lock's TTL, and this Berth releases
 * the stale one, by its token, at that first contact.
 */
async function staleLockAfterReturn(server: number, what: string, stale: boolean): Promise<void> {
  expect(lockHeld(bed, server, MODEL), `${what}: the deploy's lock on ${names[server]} when it returned`).toBe(stale);
  const started = Date.now();
  await berth.services.groups.withModelLock('prod', MODEL, `check after ${what}`, async () => {
    for (const i of all) expect(lockHeld(bed, i, MODEL), `${what}: the next operation's lock on ${names[i]}`).toBe(true);
  });
  expect(Date.now() - started, `${what}: the next operation waited for the stale lock`).toBeLessThan(10_000);
  for (const i of all) expect(lockHeld(bed, i, MODEL), `${what}: a lock left on ${names[i]}`).toBe(false);
  console.log(`[measure] ${what}: the next operation took the lock in ${Date.now() - started} ms${stale ? `, releasing the stale one on ${names[server]}` : ''}`);
}

/** Undoes what an interrupted earlier run of this file may have left on the third server (swapped key, small disk). */
function healThirdServer() {
  const n = String(THIRD + 1);
  const key = join(bedDir, `srv${n}`, 'ssh_host_ed25519_key');
  const dataDir = join(bedDir, 'data', `srv${n}`);
  const smallDisk = readFileSync('/proc/self/mounts', 'utf8').split('\n').some((l) => l.startsWith(`berth-fault-disk ${dataDir} `));
  if (!existsSync(`${key}.real`) && !smallDisk) return;
  tb('crash', n);
  if (existsSync(`${key}.real`)) {
    renameSync(`${key}.real`, key);
    renameSync(`${key}.pub.real`, `${key}.pub`);
  }
  if (smallDisk) execFileSync('umount', [dataDir]);
  writeFileSync(bed.knownHosts, readFileSync(bed.knownHosts, 'utf8').split('\n').filter((l) => !l.endsWith(' impostor')).join('\n'));
  tb('restore', n);
}

beforeAll(async () => {
  healThirdServer();
  for (const [key, tag] of Object.entries(images)) {
    buildModelImage(tag, { label: key, ballastMb: key === 'heavy' ? 300 : undefined, failAtLoad: key === 'broken', hogAtLoadMb: key === 'hog' ? 400 : undefined });
  }
  cleanModel(bed, MODEL);
  ({ berth } = await berthOnBed(bed));
  await deploy(images.one);
  await berth.services.orchestrator.setPublic(MODEL, true);
  expect(await labels(bed, MODEL, 'latest', all)).toEqual(['one', 'one', 'one']);
}, 900_000);

// Every test leaves no lock: a lock found here is a defect of the test before (which says so), never cleaned up silently.
beforeEach(() => {
  for (const i of all) expect(lockHeld(bed, i, MODEL), `a lock an earlier test left on ${names[i]}`).toBe(false);
});

afterAll(() => {
  berth?.close();
  cleanModel(bed, MODEL);
  removeLocalImages(Object.values(images));
});

describe('server and link faults during a deploy', () => {
  it('server killed mid-transport: the deploy fails naming it, nothing switched anywhere', async () => {
    const load = startLoad(bed, { model: MODEL, rps: 30, servers: survivors, prefix: 'f-kill', maxSeconds: 300 });
    const events: DeployEvent[] = [];
    const version = nextVersion();
    let crashed = false;
    try {
      const attempt = deploy(images.heavy, events);
      await until(() => events.some((e) => e.type === 'progress' && e.server === names[THIRD] && e.phase === 'transport' && (e.bytesSent ?? 0) > 0), 120_000, 'bytes on the wire');
      tb('crash', String(THIRD + 1));
      crashed = true;
      const error = await attempt.catch((e) => e);
      console.log(`[user sees] ${error.message.split('\n').slice(0, 2).join(' | ')}`);
      expect(error.message).toMatch(new RegExp(names[THIRD]));
      expect(error.message).toMatch(/nothing was switched/);
      await nothingLost(await load.stop(), 'f-kill', survivors, version);
    } finally {
      await load.stop();
      if (crashed) tb('restore', String(THIRD + 1));
    }
    await servesOneAgain(THIRD);
    await staleLockAfterReturn(THIRD, 'f-kill', true);
  });

  it('link cut mid-transport (no FIN): the stalled server fails within the stall timeout, nothing switched', async () => {
    const load = startLoad(bed, { model: MODEL, rps: 30, servers: survivors, prefix: 'f-link', maxSeconds: 300 });
    const events: DeployEvent[] = [];
    const version = nextVersion();
    const bedName = /^NAME=(\w+)$/m.exec(readFileSync(join(bedDir, 'state'), 'utf8'))?.[1] ?? 'tb';
    // The server's cable on the bed's switch: down = packets vanish, no FIN/RST reaches either end.
    const link = (state: 'up' | 'down') => execFileSync('ip', ['-n', `${bedName}-sw`, 'link', 'set', `s${THIRD + 1}`, state]);
    let cut = false;
    try {
      const attempt = deploy(images.heavy, events);
      await until(() => events.some((e) => e.type === 'progress' && e.server === names[THIRD] && e.phase === 'transport' && (e.bytesSent ?? 0) > 0), 120_000, 'bytes on the wire');
      link('down');
      cut = true;
      const cutAt = Date.now();
      const error = await attempt.catch((e) => e);
      console.log(`[measure] link cut → deploy failed after ${Date.now() - cutAt} ms`);
      console.log(`[user sees] ${error.message.split('\n').slice(0, 2).join(' | ')}`);
      expect(error.message).toMatch(new RegExp(`${names[THIRD]}: .*(lost|accepted no data|took longer|timed out|unreachable)`, 'i'));
      expect(Date.now() - cutAt).toBeLessThan(120_000);
      link('up');
      cut = false;
      await nothingLost(await load.stop(), 'f-link', survivors, version);
    } finally {
      await load.stop();
      if (cut) link('up');
    }
    // Once the link is back, the cut server still serves v1 and the next deploy is not blocked there.
    await servesOneAgain(THIRD);
    expect(containersOfVersion(THIRD, version)).toEqual([]);
    await staleLockAfterReturn(THIRD, 'f-link', true);
  });

  it('server killed during the switch: the revision reaches a majority, the survivors serve v2 without a failed request, the returned server catches up', async () => {
    // As in the app (Electron and web mode), the monitor runs: it restores the group while the server is away and
    // catches the returned server up to the group's current revision.
    const monitor = berth.services.observability.monitor;
    monitor.start();
    await until(() => monitor.snapshot().servers.filter((s) => s.reachable).length === all.length, 30_000, 'the monitor to see every server');
    const load = startLoad(bed, { model: MODEL, rps: 30, servers: survivors, prefix: 'f-switch', maxSeconds: 300 });
    const events: DeployEvent[] = [];
    const version = nextVersion();
    let crashed = false;
    try {
      const attempt = deploy(images.two, events);
      await until(() => events.some((e) => e.type === 'progress' && e.phase === 'switch'), 180_000, 'the switch');
      tb('crash', String(THIRD + 1));
      crashed = true;
      const deployed = await attempt;
      expect(deployed.number).toBe(version);
      const answers = await load.stop();
      console.log(`[measure] f-switch: answers by label ${JSON.stringify(countBy(answers, (a) => a.label ?? String(a.status)))}`);
      expect(failed(answers)).toEqual([]);
      expect(await labels(bed, MODEL, 'latest', survivors)).toEqual(survivors.map(() => 'two'));
      expect(await missingFromLogs(bed, answers, 'f-switch')).toEqual([]);
      const audit = await auditDelivered(berth, { action: 'deploy', target: `${MODEL} v${version}` }, survivors.map((i) => names[i]));
      expect(audit.delivered.map((e) => e.result)).toEqual(['ok']);
    } finally {
      await load.stop();
      if (crashed) tb('restore', String(THIRD + 1));
    }
    try {
      await until(async () => (await labels(bed, MODEL, 'latest', [THIRD]))[0] === 'two', 90_000, `${names[THIRD]} to catch up to v${version}`);
      await staleLockAfterReturn(THIRD, 'f-switch', false);
    } finally {
      monitor.stop();
      // The next tests start from v1 serving everywhere.
      await berth.services.orchestrator.rollback(MODEL, 1);
    }
    expect(await labels(bed, MODEL, 'latest', all)).toEqual(['one', 'one', 'one']);
  });

  it('disk full on a server during transport: the deploy fails with the server and the reason, nothing switched', async () => {
    const n = String(THIRD + 1);
    const dataDir = join(bedDir, 'data', `srv${n}`);
    let mounted = false;
    const load = startLoad(bed, { model: MODEL, rps: 30, servers: survivors, prefix: 'f-disk', maxSeconds: 300 });
    const version = nextVersion();
    try {
      // The server's Docker data on a 120 MB disk of its own (its real data is hidden under it until the end).
      tb('crash', n);
      execFileSync('mount', ['-t', 'tmpfs', '-o', 'size=120m,mode=700', 'berth-fault-disk', dataDir]);
      mounted = true;
      tb('restore', n);
      const error = await deploy(images.two).catch((e) => e);
      console.log(`[user sees] ${error.message.split('\n').slice(0, 3).join(' | ')}`);
      expect(error.message).toMatch(new RegExp(names[THIRD]));
      expect(error.message).toMatch(/no space left on device/i);
      expect(error.message).toMatch(/nothing was switched/);
      await nothingLost(await load.stop(), 'f-disk', survivors, version);
    } finally {
      await load.stop();
      if (mounted) {
        tb('crash', n);
        execFileSync('umount', [dataDir]);
        tb('restore', n);
      }
    }
    await servesOneAgain(THIRD);
    await staleLockAfterReturn(THIRD, 'f-disk', false);
  });

  it('wrong host key: refused before anything is locked or sent, naming the server and both fingerprints', async () => {
    const n = String(THIRD + 1);
    const key = join(bedDir, `srv${n}`, 'ssh_host_ed25519_key');
    const load = startLoad(bed, { model: MODEL, rps: 30, servers: survivors, prefix: 'f-hostkey', maxSeconds: 300 });
    const versionsBefore = berth.services.deployStore.versions(berth.services.deployStore.model(MODEL).id).length;
    let swapped = false;
    try {
      tb('crash', n);
      renameSync(key, `${key}.real`);
      renameSync(`${key}.pub`, `${key}.pub.real`);
      swapped = true;
      execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-C', 'impostor', '-f', key]);
      // The bed's own ssh (tb.sh's health check) may accept the new key too; Berth's pinned fingerprint does not change.
      appendFileSync(bed.knownHosts, `${names[THIRD]},${bed.servers[THIRD].host} ${readFileSync(`${key}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')} impostor\n`);
      tb('restore', n);
      const error = await deploy(images.two).catch((e) => e);
      console.log(`[user sees] ${error.kind}: ${error.message.split('\n')[0]}`);
      expect(error.kind).toBe('HostKeyMismatch');
      expect(error.message).toMatch(new RegExp(names[THIRD]));
      expect(error.message).toContain(bed.servers[THIRD].hostKeyFingerprint);
      const answers = await load.stop();
      expect(failed(answers)).toEqual([]);
      expect(await missingFromLogs(bed, answers, 'f-hostkey')).toEqual([]);
      expect(berth.services.deployStore.versions(berth.services.deployStore.model(MODEL).id)).toHaveLength(versionsBefore);
      for (const i of survivors) expect(lockHeld(bed, i, MODEL)).toBe(false);
      expect(await labels(bed, MODEL, 'latest', survivors)).toEqual(survivors.map(() => 'one'));
    } finally {
      await load.stop();
      if (swapped) {
        tb('crash', n);
        for (const f of [key, `${key}.pub`]) if (existsSync(f)) execFileSync('rm', ['-f', f]);
        renameSync(`${key}.real`, key);
        renameSync(`${key}.pub.real`, `${key}.pub`);
        writeFileSync(bed.knownHosts, readFileSync(bed.knownHosts, 'utf8').split('\n').filter((l) => !l.endsWith(' impostor')).join('\n'));
        tb('restore', n);
      }
    }
    await servesOneAgain(THIRD);
  });
});

describe('model faults', () => {
  it('model crashing at load: the deploy fails with its log; v1 keeps serving everywhere', async () => {
    const load = startLoad(bed, { model: MODEL, rps: 30, servers: all, prefix: 'f-load', maxSeconds: 300 });
    const version = nextVersion();
    try {
      const error = await deploy(images.broken).catch((e) => e);
      console.log(`[user sees] ${error.kind}: ${error.message.split('\n')[0]}`);
      expect(error.kind).toBe('SmokeTestFailed');
      expect(error.message).toMatch(/model file is corrupt \(fault test\)/);
      await nothingLost(await load.stop(), 'f-load', all, version);
    } finally {
      await load.stop();
    }
  });

  it('model exceeding its memory limit while loading: the deploy fails saying so; v1 keeps serving', async () => {
    const load = startLoad(bed, { model: MODEL, rps: 30, servers: all, prefix: 'f-oomload', maxSeconds: 300 });
    const version = nextVersion();
    try {
      const error = await deploy(images.hog, [], { memoryMb: 128 }).catch((e) => e);
      console.log(`[user sees] ${error.kind}: ${error.message.split('\n')[0]}`);
      expect(error.kind).toBe('SmokeTestFailed');
      expect(error.message).toMatch(/stopped or restarted before it became ready|was not ready/);
      await nothingLost(await load.stop(), 'f-oomload', all, version);
    } finally {
      await load.stop();
    }
  });

  it('model crashing on one input: that caller gets 502, Docker restarts the replica, the others are served', async () => {
    const load = startLoad(bed, { model: MODEL, rps: 30, servers: all, prefix: 'f-crash', maxSeconds: 120 });
    const restarts = () => Number(onServer(bed, 0, `docker inspect -f '{{.RestartCount}}' berth-${MODEL}-v1-r1 berth-${MODEL}-v1-r2 | awk '{s+=$1} END {print s}'`).trim());
    const before = restarts();
    try {
      await new Promise((r) => setTimeout(r, 1000));
      const crash = await predict(bed, 0, MODEL, 'latest', { body: { inputs: 'crash' }, requestId: `${tagged('f-crash')}-input` });
      await new Promise((r) => setTimeout(r, 1500));
      console.log(`[user sees] ${crash.status} ${crash.error}; replica restarts on ${names[0]} before/after: ${before}/${restarts()}`);
      expect(crash.status).toBe(502);
      expect(crash.error).toBe('UpstreamError');
      await until(() => restarts() === before + 1, 30_000, 'Docker to restart the crashed replica');
      await new Promise((r) => setTimeout(r, 3000));
      const answers = await load.stop();
      // Requests in flight on the crashing replica at that instant fail with it; nothing else does.
      const lost = failed(answers);
      console.log(`[measure] f-crash: ${answers.length} other requests, ${lost.length} failed with the crashed replica`);
      expect(lost.length).toBeLessThanOrEqual(2);
      expect(lost.every((a) => a.server === 0 && a.status === 502)).toBe(true);
      expect(await missingFromLogs(bed, [...answers, crash], 'f-crash')).toEqual([]);
      expect(loggedRequestIds(bed, 0, 'f-crash').get(`${tagged('f-crash')}-input`)).toMatchObject({ status: 502, error: 'UpstreamError' });
      expect(await labels(bed, MODEL, 'latest', all)).toEqual(['one', 'one', 'one']);
    } finally {
      await load.stop();
    }
  });

  it('model exceeding its memory limit on one input: killed (OOM), restarted, that caller gets 502', async () => {
    const load = startLoad(bed, { model: MODEL, rps: 30, servers: all, prefix: 'f-oom', maxSeconds: 120 });
    const state = () => onServer(bed, 1, `docker inspect -f '{{.RestartCount}} {{.State.OOMKilled}}' berth-${MODEL}-v1-r1 berth-${MODEL}-v1-r2`).trim().split('\n');
    const restarts = () => state().reduce((sum, line) => sum + Number(line.split(' ')[0]), 0);
    const before = restarts();
    const events: string[] = [];
    try {
      const hog = await predict(bed, 1, MODEL, 'latest', { body: { inputs: 'hog' }, requestId: `${tagged('f-oom')}-input`, timeoutMs: 30_000 });
      await new Promise((r) => setTimeout(r, 1500));
      console.log(`[user sees] ${hog.status} ${hog.error}; replica restarts on ${names[1]} before/after: ${before}/${restarts()}`);
      expect(hog.status).toBe(502);
      await until(() => restarts() === before + 1, 30_000, 'Docker to restart the killed replica');
      events.push(onServer(bed, 1, `docker events --since 2m --until 0s --filter event=oom --filter label=berth.model=${MODEL} --format '{{.Actor.Attributes.name}}'`).trim());
      expect(events[0]).toMatch(new RegExp(`berth-${MODEL}-v1-r[12]`));
      await new Promise((r) => setTimeout(r, 3000));
      const answers = await load.stop();
      const lost = failed(answers);
      console.log(`[measure] f-oom: ${answers.length} other requests, ${lost.length} failed with the killed replica`);
      expect(lost.length).toBeLessThanOrEqual(2);
      expect(await missingFromLogs(bed, [...answers, hog], 'f-oom')).toEqual([]);
      expect(await labels(bed, MODEL, 'latest', all)).toEqual(['one', 'one', 'one']);
    } finally {
      await load.stop();
    }
  });
});

describe('request faults', () => {
  it('a 10 MB body is served; one byte over 10 MiB gets 413 PayloadTooLarge from the gateway, logged', async () => {
    const body = (size: number) => {
      const head = Buffer.from('{"inputs": "');
      const tail = Buffer.from('"}');
      return Buffer.concat([head, Buffer.alloc(size - head.length - tail.length, 'a'), tail]);
    };
    const t0 = Date.now();
    const ten = await predict(bed, 0, MODEL, 'latest', { rawBody: body(10_000_000), requestId: `${tagged('f-body')}-10mb`, timeoutMs: 60_000 });
    console.log(`[measure] 10 MB body: ${ten.status} in ${Date.now() - t0} ms`);
    expect(ten).toMatchObject({ status: 200, label: 'one' });
    const over = await predict(bed, 0, MODEL, 'latest', { rawBody: body(10 * 1024 * 1024 + 1), requestId: `${tagged('f-body')}-over`, timeoutMs: 60_000 });
    console.log(`[user sees] ${over.status} ${over.error}`);
    expect(over).toMatchObject({ status: 413, error: 'PayloadTooLarge' });
    expect(await missingFromLogs(bed, [ten, over], 'f-body')).toEqual([]);
    expect((await predict(bed, 0, MODEL, 'latest')).label).toBe('one');
  });

  it('1000 concurrent requests on one replica: every one gets an answer, the replica and the gateway survive', async () => {
    const single = `${MODEL}single`;
    cleanModel(bed, single);
    await berth.services.orchestrator.deploy({ model: single, imageRef: images.one, group: 'prod', replicas: 1, memoryMb: 256, readyTimeoutMs: 60_000 });
    await berth.services.orchestrator.setPublic(single, true);
    const script = join(bedDir, 'post.lua');
    execFileSync('bash', ['-c', `cat > ${script} <<'EOF'
wrk.method = "POST"
wrk.body = '{"inputs": [1, 2]}'
wrk.headers["Content-Type"] = "application/json"
done = function(summary, latency, requests)
  io.write(string.format("RESULT %d %d %d %d %d %d %.1f %.1f\\n", summary.requests, summary.errors.connect, summary.errors.read, summary.errors.write, summary.errors.status, summary.errors.timeout, latency:percentile(50) / 1000, latency:percentile(99) / 1000))
end
EOF`]);
    // Per-status counts of this model's lines in the gateway log (all rotations), before and after the burst.
    const statusCounts = () => {
      const out = onServer(bed, 0, `cat /var/lib/berth/logs/gateway/requests.jsonl* 2>/dev/null | grep '"model":"${single}"' | grep -o '"status":[0-9]*' | sort | uniq -c`);
      const counts: Record<string, number> = {};
      for (const [, count, status] of out.matchAll(/(\d+) "status":(\d+)/g)) counts[status] = Number(count);
      return counts;
    };
    const logBefore = statusCounts();
    const out = execFileSync('bash', ['-c', `ulimit -n 65536; timeout 60 wrk -t2 -c1000 -d10s --timeout 20s -s ${script} http://${bed.servers[0].host}:8700/${single}/latest/predict`], {
      encoding: 'utf8',
      timeout: 90_000,
    });
    const [requests, connectErr, readErr, writeErr, statusErr, timeouts, p50, p99] = out.match(/RESULT (.*)/)![1].split(' ').map(Number);
    await new Promise((r) => setTimeout(r, 1000));
    const statuses = Object.fromEntries(Object.entries(statusCounts()).map(([k, v]) => [k, v - (logBefore[k] ?? 0)]).filter(([, v]) => (v as number) > 0));
    const logged = (Object.values(statuses) as number[]).reduce((a, b) => a + b, 0);
    console.log(
      `[measure] 1000 connections for 10 s on one replica: ${requests} answered (p50 ${p50} ms, p99 ${p99} ms), ` +
        `socket errors connect ${connectErr} read ${readErr} write ${writeErr} timeout ${timeouts}, non-2xx ${statusErr}; gateway log statuses ${JSON.stringify(statuses)}`,
    );
    expect(requests).toBeGreaterThan(1000);
    expect(connectErr + readErr + writeErr).toBe(0);
    // Every request got an HTTP answer: 200, or an error the gateway wrote itself (JSON 502/503/504); 499 = wrk
    // closing its connections when the 10 s are up. Errors stay rare, and the gateway logged every request.
    expect(Object.keys(statuses).every((s) => ['200', '499', '502', '503', '504'].includes(s))).toBe(true);
    const serverErrors = (statuses['502'] ?? 0) + (statuses['503'] ?? 0) + (statuses['504'] ?? 0);
    expect(serverErrors / requests).toBeLessThan(0.01);
    expect(logged).toBeGreaterThanOrEqual(requests);
    expect(onServer(bed, 0, `docker inspect -f '{{.RestartCount}} {{.State.Status}}' berth-${single}-v1-r1 berth-gateway`).trim().split('\n')).toEqual(['0 running', '0 running']);
    expect((await predict(bed, 0, single, 'latest')).label).toBe('one');
    cleanModel(bed, single);
  });
});

function countBy<T>(items: T[], key: (item: T) => string): Record<string, number> {
  const out: Record<string, number> = {};
  for (const item of items) out[key(item)] = (out[key(item)] ?? 0) + 1;
  return out;
}
