import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { appendOnServer, berthWithServers, call, ensureBaseImage, gatewayLine, onServer, predict, removeContainers, removeServingDirs, runContainer, runServing, waitReady } from '../integration/logs/support';
import { shellQuote } from '../../electron/main/services/transport/ssh';
import { buildApp, startApp, type RunningApp } from './harness';

const PREFIX = 'berth-obse2e';
// This run's group state (and audit) below each server's /root: a group "prod" another test left in /var/lib/berth
// would otherwise come along when the servers are registered.
const base = `/root/.berth-test-e2e-logs-${process.pid}`;
const remoteEnv = { BERTH_REMOTE_DIR: `${base}/var`, BERTH_REMOTE_LIB: `${base}/lib` };
const PORT = 19430;
const TICKER = `
import time
n = 0
while True:
    n += 1
    print(f"tick tb1 line {n}", flush=True)
    time.sleep(0.3)
`;
const MODEL = `
def predict(inputs):
    return {"label": "setosa" if inputs[0] < 5 else "virginica"}
`;
const HOG = `
import time
chunks = []
while True:
    chunks.append(bytearray(8 * 1024 * 1024))
    time.sleep(0.05)
`;

describe('logs, requests and alerts in Chromium', () => {
  let app: RunningApp;
  let env: Awaited<ReturnType<typeof berthWithServers>>;
  const gwRoot = mkdtempSync(join(tmpdir(), 'berth-e2e-gw-'));
  const saved = { ...process.env };

  beforeAll(async () => {
    ensureBaseImage();
    buildApp();
    Object.assign(process.env, remoteEnv);
    // Register two servers in a data folder, then open that folder in web mode.
    env = await berthWithServers(2);
    const group = await call(env.berth, 'groups.create', { name: 'prod', replicas: 1, tls: 'off' });
    await call(env.berth, 'groups.update', { id: group.id, serverIds: env.ids });
    env.berth.close();
    removeContainers(env.bed, PREFIX);
    runContainer(env.bed, 0, { name: `${PREFIX}-v1-r1`, model: 'obse2e', version: 1, replica: 1, script: TICKER });
    runServing(env.bed, 0, { name: `${PREFIX}-v2-r1`, model: 'obse2e', version: 2, replica: 1, port: PORT, module: MODEL });
    await waitReady(env.bed, 0, PORT);
    // Requests over the last minutes, as the gateway and the replica log them.
    let lines = '';
    for (let i = 1; i <= 40; i++) {
      const id = `e2e-${i}-${process.pid}`;
      const inputs = [3 + (i % 5), i === 17 ? 'zebra' : 'plain'];
      expect(predict(env.bed, 0, PORT, { inputs }, id, i % 3 ? 'key_alice' : 'key_bob')).toBe(200);
      lines += gatewayLine(i, id, { model: 'obse2e', version: '2', latency_ms: 3 + (i % 7) * 2, status: i % 10 === 0 ? 502 : 200, caller: i % 3 ? 'key_alice' : 'key_bob' });
    }
    // And an hour of earlier traffic that only the gateway logged (two versions, a few errors), for the charts.
    const now = Date.now();
    for (let i = 41; i <= 640; i++) {
      const v2 = i > 340;
      lines += gatewayLine(i, `e2e-old-${i}-${process.pid}`, {
        ts: new Date(now - 3_600_000 + (i - 41) * 6000).toISOString(),
        model: 'obse2e',
        version: v2 ? '2' : '1',
        latency_ms: (v2 ? 4 : 9) + ((i * 7919) % 23) * (v2 ? 0.3 : 0.8),
        status: i % (v2 ? 50 : 12) === 0 ? 500 : 200,
        caller: i % 3 ? 'key_alice' : 'key_bob',
      });
    }
    appendOnServer(env.bed, 0, join(gwRoot, 'tb1', 'requests.jsonl'), lines);
    app = await startApp({ ...remoteEnv, BERTH_HOME: env.home, BERTH_GATEWAY_LOG_DIR: join(gwRoot, '{server}'), BERTH_MONITOR_INTERVAL_MS: '1000' });
    await app.page.getByRole('button', { name: 'Logs', exact: true }).click();
  });

  afterAll(async () => {
    process.env = saved;
    await app?.close();
    if (env) {
      removeContainers(env.bed, PREFIX);
      for (let i = 0; i < env.bed.servers.length; i++) {
        try {
          onServer(env.bed, i, `rm -rf ${base}`);
        } catch {
          // nothing of this run is left on a server that cannot be reached
        }
      }
    }
    removeServingDirs();
    rmSync(gwRoot, { recursive: true, force: true });
  });

  it('follows a model version live in the terminal, with search, pause and resume', async () => {
    const page = app.page;
    await expect.poll(() => page.locator('[data-testid=log-target] option').allTextContents(), { timeout: 20_000 }).toContain('obse2e v1: all replicas (1 server)');
    await page.getByLabel('What to follow').selectOption('model:obse2e:1');
    await page.getByRole('button', { name: 'Follow' }).click();
    const terminal = page.locator('[data-testid=terminal-live-logs] .xterm-rows');
    await expect.poll(() => terminal.textContent(), { timeout: 20_000 }).toMatch(/tb1\/berth-obse2e-v1-r1 tick tb1 line \d+/);
    await expect.poll(() => page.textContent('[data-testid=log-sources]')).toContain('tb1/berth-obse2e-v1-r1 · following');
    await page.getByRole('button', { name: 'Pause' }).click();
    await expect.poll(() => page.getByRole('button', { name: /^Resume \(\d+ held\)$/ }).count(), { timeout: 10_000 }).toBe(1);
    await page.getByRole('button', { name: /^Resume/ }).click();
    await page.getByLabel('Search the log').fill('line 3');
    await page.getByLabel('Next match').click();
    await app.screenshot('logs-live');
    await page.getByRole('button', { name: 'Stop' }).click();
  });

  it('pulls the inference records, searches them and charts them per version', async () => {
    const page = app.page;
    await page.getByRole('tab', { name: 'Requests' }).click();
    await page.getByRole('button', { name: 'Pull now' }).click();
    await expect.poll(() => page.textContent('[data-testid=sync-result]'), { timeout: 30_000 }).toMatch(/tb1: \+\d+ gateway, \+\d+ replica lines/);
    await expect.poll(() => page.textContent('[data-testid=search-summary]')).toMatch(/^Requests 1–50 of more/);
    await expect.poll(() => page.locator('[data-testid=chart-latency] canvas').count()).toBeGreaterThan(0);
    await expect.poll(() => page.locator('[data-testid=chart-rate] .u-legend').textContent()).toContain('obse2e v2');
    await page.getByLabel('Search text').fill('zebra');
    await page.getByRole('button', { name: 'Search', exact: true }).click();
    await expect.poll(() => page.locator('[data-testid=request-table] tbody tr').count()).toBe(1);
    await page.locator('[data-testid=request-table] tbody tr').first().click();
    await expect.poll(() => page.textContent('[data-testid=request-table]')).toContain('"zebra"');
    await app.screenshot('logs-requests');
  });

  it('warns when rotation removed records before they were pulled', async () => {
    const page = app.page;
    const dir = join(gwRoot, 'tb1');
    // One command, so the background pull cannot run in the middle: 641 is written and rotated away unseen.
    const put = (...seqs: number[]) => `printf '%s\\n' ${seqs.map((n) => shellQuote(gatewayLine(n, `e2e-rot-${n}`, { model: 'obse2e', version: '2' }).trim())).join(' ')} >> requests.jsonl`;
    onServer(env.bed, 0, `cd ${dir} && ${put(641)} && mv requests.jsonl requests.jsonl.1 && ${put(642, 643)} && rm requests.jsonl.1 && mv requests.jsonl requests.jsonl.1 && ${put(644)}`);
    await page.getByLabel('Search text').fill('');
    await page.getByRole('button', { name: 'Pull now' }).click();
    await expect.poll(() => page.textContent('[data-testid=ingest-gaps]'), { timeout: 30_000 }).toMatch(/1 gateway record on tb1 \(seq 641\) was rotated away before Berth pulled it/);
    await app.screenshot('logs-gap');
  });

  it('shows an alert when a replica is killed for exceeding its memory limit', async () => {
    const page = app.page;
    await page.getByRole('tab', { name: /Health/ }).click();
    await expect.poll(() => page.textContent('[data-server-health=tb1]'), { timeout: 20_000 }).toContain('reachable');
    onServer(
      env.bed,
      0,
      `docker run -d --name ${PREFIX}hog-v1-r1 --label berth.model=obse2ehog --label berth.version=1 --label berth.replica=1 ` +
        `--memory 64m --memory-swap 64m --network none berth-base/python:3.11-bookworm python3 -c '${HOG}'`,
    );
    const alert = page.locator(`[data-alert-kind=replica_oom][data-alert-subject="tb1/${PREFIX}hog-v1-r1"]`);
    await expect.poll(() => alert.textContent(), { timeout: 60_000 }).toMatch(/killed for running out of memory \(limit 64\.0 MiB/);
    await expect.poll(() => page.textContent('[data-testid=alert-badge]')).toMatch(/^\d+$/);
    await app.screenshot('logs-alerts');
  });
});
