import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { LogFollowEvent, LogLine, LogSource } from '../../../shared/logs';
import { formatLogLine } from '../../../shared/logs';
import { berthWithServers, call, ensureBaseImage, median, onServer, removeContainers, runContainer, subscribe, until } from './support';

const PREFIX = 'berth-obslog';
const TICKER = `
import os, sys, time
n = 0
while True:
    n += 1
    print(f"tick {os.environ['SRV']} {n} {time.time() * 1000:.1f}", flush=True)
    if n % 5 == 0:
        print(f"warn {n}", file=sys.stderr, flush=True)
    time.sleep(0.2)
`;
// 200 000 lines as fast as Python writes them, then a marker, then quiet.
const BURST = `
import sys, time
time.sleep(1.5)
out = sys.stdout
for i in range(200000):
    out.write(f"burst {i}\\n")
out.write("burst-done\\n")
out.flush()
time.sleep(3600)
`;

let env: Awaited<ReturnType<typeof berthWithServers>>;
const ids = new Map<string, string>();

beforeAll(async () => {
  ensureBaseImage();
  env = await berthWithServers(3);
  removeContainers(env.bed, PREFIX);
  env.bed.servers.forEach((server, i) => {
    ids.set(server.name, runContainer(env.bed, i, { name: `${PREFIX}-v1-r1`, model: 'obslog', version: 1, replica: 1, script: TICKER, env: { SRV: server.name } }));
  });
});

afterAll(() => {
  env?.berth.close();
  if (env) removeContainers(env.bed, PREFIX);
});

const lines = (events: Array<{ event: LogFollowEvent }>) => events.flatMap((e) => (e.event.type === 'lines' ? e.event.lines : []));
const sourcesOf = (events: Array<{ event: LogFollowEvent }>) => {
  const latest = new Map<number, LogSource>();
  for (const { event } of events) if (event.type === 'sources') for (const s of event.sources) latest.set(s.id, s);
  return latest;
};
const dockerLogsOn = (index: number, containerId: string) =>
  // Only the docker CLI process itself (its wrapper shells carry the same words in their command line).
  onServer(env.bed, index, `pgrep -af '^docker logs --follow --timestamps' | grep -c ${containerId.slice(0, 12)} || true`).trim();

describe('live logs from the test servers', () => {
  it('lists the Berth containers and model versions on every server', async () => {
    const targets = await call(env.berth, 'logs.targets', {});
    expect(targets.servers.map((s: any) => [s.name, s.reachable])).toEqual([['tb1', true], ['tb2', true], ['tb3', true]]);
    expect(targets.servers[0].containers).toContainEqual({ name: `${PREFIX}-v1-r1`, state: 'running', model: 'obslog', version: 1, replica: 1 });
    expect(targets.versions).toContainEqual({ model: 'obslog', version: 1, serverIds: env.ids });
  });

  it('merges the replicas of a model version from three servers, prefixed, with low latency; stops the remote process on unsubscribe', async () => {
    const sub = subscribe(env.berth, 'logs.follow', { target: { kind: 'model', model: 'obslog', version: 1 }, tail: 3 });
    try {
      await until(() => {
        const seen = new Set(lines(sub.events).filter((l) => l.text.startsWith('tick')).map((l) => l.text.split(' ')[1]));
        return seen.size === 3 && lines(sub.events).length > 60;
      }, 30_000, 'lines from all three servers');
      const sources = sourcesOf(sub.events);
      expect([...sources.values()].map((s) => [s.server, s.container, s.state]).sort()).toEqual([
        ['tb1', `${PREFIX}-v1-r1`, 'following'],
        ['tb2', `${PREFIX}-v1-r1`, 'following'],
        ['tb3', `${PREFIX}-v1-r1`, 'following'],
      ]);
      // Every line is attributed to the server that wrote it, stderr is flagged, Docker's timestamp kept.
      for (const line of lines(sub.events)) {
        const source = sources.get(line.s)!;
        if (line.text.startsWith('tick')) expect(line.text.split(' ')[1]).toBe(source.server);
        if (line.text.startsWith('warn')) expect(line.err).toBe(true);
        expect(line.ts).toMatch(/^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d+Z$/);
      }
      const sample = lines(sub.events).find((l) => l.text.startsWith('tick'))!;
      expect(formatLogLine(sample, sources.get(sample.s))).toMatch(/^\x1b\[90m\d{2}:\d{2}:\d{2}\.\d{3}\x1b\[0m \x1b\[\d+mtb\d\/berth-obslog-v1-r1\x1b\[0m tick /);
      // Per server the lines arrive in order, without duplicates.
      for (const server of ['tb1', 'tb2', 'tb3']) {
        const numbers = lines(sub.events).filter((l) => l.text.startsWith(`tick ${server} `)).map((l) => Number(l.text.split(' ')[2]));
        expect(numbers).toEqual([...numbers].sort((a, b) => a - b));
        expect(new Set(numbers).size).toBe(numbers.length);
      }
      // Latency: container write (its own clock, the same kernel clock here) → event delivered to the subscriber.
      const latencies = sub.events.flatMap(({ at, event }) =>
        event.type === 'lines' ? event.lines.filter((l: LogLine) => l.text.startsWith('tick')).map((l: LogLine) => at - Number(l.text.split(' ')[3])) : [],
      );
      const recent = latencies.slice(-45);
      console.log(`[measure] live-log latency: median ${median(recent).toFixed(1)} ms over ${recent.length} lines (max ${Math.max(...recent).toFixed(1)} ms)`);
      expect(median(recent)).toBeLessThan(1000);
      env.bed.servers.forEach((s, i) => expect(dockerLogsOn(i, ids.get(s.name)!)).toBe('1'));
    } finally {
      sub.cancel();
    }
    // The viewer went away: no `docker logs -f` may be left on any server.
    await until(() => env.bed.servers.every((s, i) => dockerLogsOn(i, ids.get(s.name)!) === '0'), 10_000, 'docker logs to stop on every server');
  });

  it('bounds a burst: batches of at most 500 lines, skipped lines counted, the end of the burst delivered', async () => {
    const burstId = runContainer(env.bed, 0, { name: `${PREFIX}burst-v1-r1`, model: 'obslogburst', version: 1, replica: 1, script: BURST });
    const sub = subscribe(env.berth, 'logs.follow', { target: { kind: 'container', serverId: env.ids[0], container: `${PREFIX}burst-v1-r1` }, tail: 0 });
    try {
      await until(() => lines(sub.events).some((l) => l.text === 'burst-done'), 60_000, 'the end of the burst');
      const batches = sub.events.filter((e) => e.event.type === 'lines').map((e) => e.event as Extract<LogFollowEvent, { type: 'lines' }>);
      const delivered = batches.reduce((n, b) => n + b.lines.length, 0);
      const skipped = batches.reduce((n, b) => n + b.skipped, 0);
      console.log(`[measure] burst of 200001 lines: ${batches.length} batches, ${delivered} delivered, ${skipped} skipped`);
      expect(Math.max(...batches.map((b) => b.lines.length))).toBeLessThanOrEqual(500);
      expect(delivered + skipped).toBe(200_001);
      expect(skipped).toBeGreaterThan(0);
    } finally {
      sub.cancel();
    }
    await until(() => dockerLogsOn(0, burstId) === '0', 10_000, 'docker logs of the burst container to stop');
  });

  it('follows a container again after it restarts, without repeating lines', async () => {
    const sub = subscribe(env.berth, 'logs.follow', { target: { kind: 'server', serverId: env.ids[1] }, tail: 0 });
    try {
      await until(() => lines(sub.events).filter((l) => l.text.startsWith('tick tb2')).length >= 3, 20_000, 'lines from tb2');
      onServer(env.bed, 1, `docker restart -t 1 ${PREFIX}-v1-r1 >/dev/null`);
      // After the restart the script counts from 1 again.
      await until(() => {
        const ticks = lines(sub.events).filter((l) => l.text.startsWith('tick tb2')).map((l) => Number(l.text.split(' ')[2]));
        const restartAt = ticks.findIndex((n, i) => i > 0 && n < ticks[i - 1]);
        return restartAt > 0 && ticks.length - restartAt >= 3;
      }, 30_000, 'lines after the restart');
      const stamps = lines(sub.events).filter((l) => l.text.startsWith('tick tb2')).map((l) => `${l.ts} ${l.text}`);
      expect(new Set(stamps).size).toBe(stamps.length);
    } finally {
      sub.cancel();
    }
  });

  it('reports an unknown container clearly instead of failing silently', async () => {
    const sub = subscribe(env.berth, 'logs.follow', { target: { kind: 'container', serverId: env.ids[2], container: 'berth-nope-v1-r1' }, tail: 1 });
    try {
      const source = await until(() => [...sourcesOf(sub.events).values()].find((s) => s.state === 'failed'), 15_000, 'a failed source');
      expect(source.message).toBe('No container named berth-nope-v1-r1 on tb3');
    } finally {
      sub.cancel();
    }
  });
});
