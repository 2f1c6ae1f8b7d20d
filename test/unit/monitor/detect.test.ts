import { describe, expect, it } from 'vitest';
import { applyEvent, applyPoll, defaultDetectOptions, newTrack, replicaConditions, serverConditions } from '../../../electron/main/services/monitor/detect';
import { parseDetails, parseEvent, parseRuntime, type ContainerInfo, type RuntimeProbe } from '../../../electron/main/services/monitor/probe';

const info = (over: Partial<ContainerInfo> = {}): ContainerInfo => ({
  id: 'abc123abc123',
  name: 'berth-iris-v1-r1',
  state: 'running',
  running: true,
  restarting: false,
  oomKilled: false,
  exitCode: 0,
  startedAt: '2025-01-01T12:00:00Z',
  finishedAt: null,
  restartCount: 0,
  restartPolicy: 'on-failure',
  maxRetries: 10,
  memoryLimitBytes: 64 * 1024 * 1024,
  model: 'iris',
  version: 1,
  replica: 1,
  port: 9101,
  ...over,
});
const ready = (code: number | null, memory: [number | null, number | null] = [null, null]): RuntimeProbe => ({
  ready: new Map([['abc123abc123', code]]),
  memory: new Map([['abc123abc123', memory]]),
});
const event = (action: 'die' | 'oom' | 'kill' | 'start', at: number, exitCode: number | null = null) => ({
  action,
  id: 'abc123abc123',
  name: 'berth-iris-v1-r1',
  exitCode,
  at,
  timeNano: at * 1e6,
});
const kinds = (c: { kind: string }[]) => c.map((x) => x.kind);

describe('replica conditions', () => {
  it('calls a crash restarted by Docker a crash until it has been healthy a while', () => {
    const t = newTrack();
    applyPoll(t, info(), ready(200), 0);
    applyEvent(t, event('die', 1000, 3));
    applyPoll(t, info({ restartCount: 1 }), ready(200), 1500);
    const now = replicaConditions('tb1', info({ restartCount: 1 }), t, ready(200), 1500);
    expect(kinds(now)).toEqual(['replica_crashed']);
    expect(now[0].message).toBe('berth-iris-v1-r1 on tb1 crashed (exit 3); Docker restarted it (restart 1)');
    expect(t.crashes).toHaveLength(1); // the restart count delta is the same crash, not a second one
    expect(replicaConditions('tb1', info({ restartCount: 1 }), t, ready(200), 1000 + defaultDetectOptions.stableMs + 1)).toEqual([]);
  });

  it('does not call a deliberate stop (kill, then die) a crash', () => {
    const t = newTrack();
    applyEvent(t, event('kill', 1000));
    applyEvent(t, event('die', 1200, 143));
    expect(t.crashes).toEqual([]);
  });

  it('reports an OOM kill with the memory limit and the peak seen', () => {
    const t = newTrack();
    applyPoll(t, info(), ready(200, [50 * 1024 * 1024, 60 * 1024 * 1024]), 0);
    applyEvent(t, event('oom', 1000));
    applyEvent(t, event('die', 1010, 137));
    const c = replicaConditions('tb1', info({ restartCount: 1 }), t, ready(null), 1100);
    expect(kinds(c)).toEqual(['replica_oom']);
    expect(c[0].message).toBe('berth-iris-v1-r1 on tb1 was killed for running out of memory (limit 64.0 MiB, peak seen 60.0 MiB); Docker restarted it (restart 1)');
    expect(c[0].detail).toMatchObject({ memoryLimitBytes: 64 * 1024 * 1024, memoryPeakBytes: 60 * 1024 * 1024 });
  });

  it('sees crashes the event stream missed from the restart count, and a loop from several', () => {
    const t = newTrack();
    applyPoll(t, info(), ready(200), 0);
    applyPoll(t, info({ restartCount: 3, state: 'restarting', running: false, restarting: true, exitCode: 1 }), ready(null), 2000);
    const c = replicaConditions('tb1', info({ restartCount: 3, state: 'restarting', running: false, restarting: true, exitCode: 1 }), t, ready(null), 2000);
    expect(kinds(c)).toEqual(['replica_crash_loop']);
    expect(c[0].message).toMatch(/crashing in a loop: 3 crashes in 120 s/);
  });

  it('says so when Docker gave up restarting', () => {
    const t = newTrack();
    const dead = info({ running: false, state: 'exited', exitCode: 1, restartCount: 10 });
    applyPoll(t, dead, ready(null), 0);
    expect(replicaConditions('tb1', dead, t, ready(null), 0)[0].message).toBe(
      'berth-iris-v1-r1 on tb1 keeps crashing: Docker gave up after 10 restarts (exit 1)',
    );
  });

  it('alerts a replica that stays unready past the grace period', () => {
    const t = newTrack();
    applyPoll(t, info(), ready(503), 0);
    expect(replicaConditions('tb1', info(), t, ready(503), 1000)).toEqual([]);
    applyPoll(t, info(), ready(503), 16_000);
    expect(kinds(replicaConditions('tb1', info(), t, ready(503), 16_000))).toEqual(['replica_not_ready']);
    applyPoll(t, info(), ready(200), 18_000);
    expect(replicaConditions('tb1', info(), t, ready(200), 18_000)).toEqual([]);
  });
});

describe('server conditions', () => {
  const ok = { engineOk: true, engineError: null, diskFreeBytes: 50, diskTotalBytes: 100 };
  it('flags a nearly full disk, a down gateway and a dead engine', () => {
    expect(serverConditions('tb1', ok, { exists: false, running: false, status: undefined })).toEqual([]);
    expect(kinds(serverConditions('tb1', { ...ok, diskFreeBytes: 9 }, { exists: true, running: true, status: 200 }))).toEqual(['disk_low']);
    expect(serverConditions('tb1', ok, { exists: true, running: true, status: null })[0].message).toBe('The gateway on tb1 does not answer /_berth/health');
    expect(kinds(serverConditions('tb1', { ...ok, engineOk: false, engineError: 'x' }, { exists: true, running: true, status: 200 }))).toEqual(['engine_down']);
  });
});

describe('probe output parsing', () => {
  it('reads docker inspect, df and an engine failure', () => {
    const inspect = JSON.stringify([
      {
        Id: 'abc123abc123',
        Name: '/berth-iris-v1-r1',
        RestartCount: 2,
        State: { Status: 'running', Running: true, Restarting: false, OOMKilled: false, ExitCode: 0, StartedAt: '2025-01-01T12:00:00Z', FinishedAt: '0001-01-01T00:00:00Z' },
        HostConfig: { Memory: 67108864, RestartPolicy: { Name: 'on-failure', MaximumRetryCount: 10 } },
        Config: { Labels: { 'berth.model': 'iris', 'berth.version': '1', 'berth.replica': '1', 'berth.port': '9101' } },
      },
      { Id: 'def', Name: '/not-berth', State: {}, Config: {} },
    ]);
    const details = parseDetails(`@ps 0\n@df /dev/vda 1000 900 100 90% /\n@inspect\n${inspect}\n`);
    expect(details).toMatchObject({ engineOk: true, diskFreeBytes: 100, diskTotalBytes: 1000 });
    expect(details.containers).toEqual([expect.objectContaining({ name: 'berth-iris-v1-r1', restartCount: 2, finishedAt: null, port: 9101, memoryLimitBytes: 67108864 })]);
    expect(parseDetails('@ps 1\nCannot connect to the Docker daemon at unix:///var/run/docker.sock\n')).toMatchObject({
      engineOk: false,
      engineError: 'Cannot connect to the Docker daemon at unix:///var/run/docker.sock',
    });
    expect(parseDetails('@ps 124\n').engineError).toMatch(/did not answer within 5 s/);
  });

  it('reads readiness, memory and gateway probes, and docker events', () => {
    const runtime = parseRuntime('@ready abc 200\n@ready def none\n@mem abc 1024 2048\n@gateway 200\n', true);
    expect(runtime.ready.get('abc')).toBe(200);
    expect(runtime.ready.get('def')).toBeNull();
    expect(runtime.memory.get('abc')).toEqual([1024, 2048]);
    expect(runtime.gateway).toBe(200);
    const e = parseEvent('{"status":"die","id":"abc","Type":"container","Action":"die","Actor":{"ID":"abc","Attributes":{"exitCode":"137","name":"berth-iris-v1-r1"}},"time":1700000000,"timeNano":1700000000123456789}');
    expect(e).toEqual({ action: 'die', id: 'abc', name: 'berth-iris-v1-r1', exitCode: 137, at: 1700000000123, timeNano: 1700000000123456789 });
    expect(parseEvent('{"Action":"die","Actor":{"Attributes":{"name":"someone-else"}}}')).toBeNull();
  });
});
