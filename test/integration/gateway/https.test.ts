/**
 * HTTPS at the gateway on the bed's servers (issue 14): a group switched to HTTPS gets each server a certificate
 * from its own CA, `curl --cacert <ca.pem> https://<server>:8700/_berth/health` answers on every server, curl
 * without the CA fails to verify, plain HTTP to the group is refused before any key is read, and a caller
 * without a valid key cannot tell a model that exists from one that does not.
 */
import { execFile } from 'node:child_process';
import { mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBerth, type Berth } from '../../../electron/main/app';
import { gatewayHealth } from '../../../electron/main/services/gateway/install';
import { repoRoot } from '../../e2e/harness';
import { forgetGroupOnBed, loadBed, registerBed } from '../bed';
import { buildTestModel, removeLocalImage } from '../deploy/test-images';

const run = promisify(execFile);
const bed = loadBed();
const GROUP = 'httpsgw';
const NEW_GROUP = 'httpsnew';
const MODEL = 'httpstest';
const IMAGE = `berth-test/${MODEL}:one`;
const home = mkdtempSync(join(tmpdir(), 'berth-https-'));

let berth: Berth;
let secret: string;

async function call<T = any>(name: string, input: unknown): Promise<T> {
  const result = await berth.dispatcher.call(name as never, input);
  if (!result.ok) throw Object.assign(new Error(result.error.message), { kind: result.error.kind });
  return result.value as T;
}

interface Curl {
  code: number;
  status: number;
  body: string;
  stderr: string;
}

/** curl as a client would run it: the HTTP status and body, or curl's own exit code when it got none. */
async function curl(...args: string[]): Promise<Curl> {
  try {
    const { stdout, stderr } = await run('curl', ['-sS', '--max-time', '5', '-w', '\n%{http_code}', ...args], { timeout: 15_000 });
    const split = stdout.lastIndexOf('\n');
    return { code: 0, status: Number(stdout.slice(split + 1)), body: stdout.slice(0, split), stderr };
  } catch (err) {
    const e = err as { code: number; stderr: string; stdout: string };
    return { code: e.code, status: 0, body: e.stdout, stderr: e.stderr };
  }
}

async function until<T>(what: string, probe: () => Promise<T | undefined>, limitMs = 20_000): Promise<T> {
  const deadline = Date.now() + limitMs;
  for (;;) {
    const value = await probe();
    if (value !== undefined) return value;
    if (Date.now() > deadline) throw new Error(`not within ${limitMs} ms: ${what}`);
    await new Promise((r) => setTimeout(r, 200));
  }
}

/** The built CLI on this test's data folder, as a pipeline would run it. */
const cli = (...args: string[]) => run(process.execPath, [join(repoRoot, 'bin/berth.mjs'), ...args], { env: { ...process.env, BERTH_HOME: home }, timeout: 120_000 });

function authorityFile(name: string, pem: string): string {
  const path = join(home, `${name}-ca.pem`);
  writeFileSync(path, pem);
  return path;
}

const onEveryServer = (command: string) =>
  Promise.all(bed.servers.map((s) => run('ssh', ['-F', bed.sshConfig, s.name, command], { timeout: 60_000 }).catch(() => undefined)));

beforeAll(async () => {
  buildTestModel(IMAGE, { label: 'one' });
  forgetGroupOnBed(bed, GROUP);
  forgetGroupOnBed(bed, NEW_GROUP);
  berth = createBerth({ home, mode: 'cli', version: 'test' });
  berth.services.settings.update({ gatewayBuilderImage: 'berth-base/go-builder:bookworm' });
  const ids = await registerBed(berth, bed);
  // A group of before HTTPS: made with plain HTTP, as every group published by an earlier Berth is.
  const group = await call('groups.create', { name: GROUP, replicas: 1, tls: 'off' });
  await call('groups.update', { id: group.id, serverIds: ids });
  await berth.services.orchestrator.deploy({ model: MODEL, imageRef: IMAGE, group: GROUP, replicas: 1, memoryMb: 256, readyTimeoutMs: 60_000 });
  secret = (await call<{ secret: string }>('access.createKey', { name: 'https-test', scope: { kind: 'model', model: MODEL } })).secret;
}, 600_000);

afterAll(async () => {
  // Plain HTTP again before the groups go, so no table that refuses it outlives this file on a shared bed.
  await call('groups.setTls', { name: GROUP, tls: 'off' }).catch(() => undefined);
  await call('groups.setTls', { name: NEW_GROUP, tls: 'off' }).catch(() => undefined);
  await onEveryServer(
    `docker rm -f $(docker ps -aq --filter label=berth.model=${MODEL}) 2>/dev/null; docker rmi -f $(docker images -q berth-test/${MODEL}) 2>/dev/null; ` +
      `rm -rf /var/lib/berth/groups/${GROUP} /var/lib/berth/groups/${NEW_GROUP} /var/lib/berth/lock/${MODEL} /var/lib/berth/gateway/tls; true`,
  );
  berth?.close();
  removeLocalImage(IMAGE);
});

const predict = (scheme: 'http' | 'https', host: string, ...extra: string[]) =>
  curl(...extra, '-X', 'POST', '-H', 'Content-Type: application/json', '-d', '{"inputs": [1]}', `${scheme}://${host}:8700/${MODEL}/latest/predict`);

describe('a group switched to HTTPS (bed servers, the real berth-gateway on 8700)', () => {
  it('answers plain HTTP before the switch, and without a valid key every model is 401 whether it exists or not', async () => {
    const host = bed.servers[0].host;
    await until('the key to reach the gateway', async () => ((await predict('http', host, '-H', `Authorization: Bearer ${secret}`)).status === 200 ? true : undefined));
    const existing = await curl(`http://${host}:8700/${MODEL}/latest/predict`);
    const missing = await curl(`http://${host}:8700/no-such-model/latest/predict`);
    expect([existing.status, missing.status]).toEqual([401, 401]);
    expect(missing.body).toBe(existing.body);
    expect((await curl('-H', 'Authorization: Bearer wrong', `http://${host}:8700/no-such-model/v1/x`)).status).toBe(401);
    expect((await curl('-H', `Authorization: Bearer ${secret}`, `http://${host}:8700/no-such-model/v1/x`)).status).toBe(404);
    expect(berth.services.registry.group(GROUP)).toMatchObject({ tls: 'off', authority: null });
    expect((await cli('status', '--group', GROUP)).stdout).toContain(`WARNING: group ${GROUP} serves plain HTTP`);
  });

  it('serves HTTPS with the group CA on every server; curl without the CA fails to verify; plain HTTP is refused unchecked', async () => {
    const switched = await call('groups.setTls', { name: GROUP, tls: 'https' });
    expect(switched).toMatchObject({ tls: 'https', authority: { createdBy: expect.any(String), fingerprint: expect.stringMatching(/^[0-9a-f]{64}$/) } });
    const authority = await call<{ certificate: string }>('groups.authority', { name: GROUP });
    // What a client is handed: `berth groups ca <group>` prints the CA certificate.
    const printed = (await cli('groups', 'ca', GROUP)).stdout;
    expect(printed).toBe(authority.certificate);
    const caFile = authorityFile(GROUP, printed);

    for (const server of bed.servers) {
      const health = await until(`${server.name} to serve HTTPS`, async () => {
        const answer = await curl('--cacert', caFile, `https://${server.host}:8700/_berth/health`);
        return answer.status === 200 ? answer : undefined;
      });
      expect(JSON.parse(health.body)).toMatchObject({ status: 'ok', tls: { serving: true, names: expect.arrayContaining([server.host]) } });

      const untrusted = await curl(`https://${server.host}:8700/_berth/health`);
      expect(untrusted.code).toBe(60); // CURLE_PEER_FAILED_VERIFICATION
      expect(untrusted.stderr).toMatch(/certificate/i);

      for (const key of [secret, 'wrong']) {
        const plain = await predict('http', server.host, '-H', `Authorization: Bearer ${key}`);
        expect(plain.status).toBe(400);
        expect(JSON.parse(plain.body).error).toMatchObject({ kind: 'HttpsRequired', message: expect.stringContaining(`https://${server.host}:8700/${MODEL}/latest/predict`) });
      }
      const secure = await predict('https', server.host, '--cacert', caFile, '-H', `Authorization: Bearer ${secret}`);
      expect(secure.status).toBe(200);
      expect(JSON.parse(secure.body).predictions.label).toBe('one');
      expect((await curl('--cacert', caFile, `https://${server.host}:8700/no-such-model/v1/x`)).status).toBe(401);
    }
    // `berth status` reaches the gateways as a client does, over HTTPS with the CA.
    expect((await gatewayHealth(bed.servers[1].host, 8700, 5000, authority.certificate)).tls).toMatchObject({ serving: true });
    const status = (await cli('status', '--group', GROUP)).stdout;
    expect(status).toMatch(new RegExp(`group ${GROUP}: .*HTTPS only`));
    expect(status).not.toContain('WARNING');
    expect(status).toMatch(new RegExp(`server ${bed.servers[1].name} .*gateway ok`));
    // The endpoint panel's URLs and the CA it offers for download.
    const view = await berth.services.deploy.model(MODEL);
    expect(view.endpoints[0].baseUrl).toBe(`https://${bed.servers[0].host}:8700/${MODEL}`);
    expect(view.tls).toEqual({ group: GROUP, mode: 'https', authority: authority.certificate });
  });

  it('makes a new group HTTPS only from its first revision, and its servers present its own CA', async () => {
    await call('groups.setTls', { name: GROUP, tls: 'off' });
    const created = await call('groups.create', { name: NEW_GROUP, replicas: 1 });
    expect(created.tls).toBe('https');
    const updated = await call('groups.update', { id: created.id, serverIds: berth.services.registry.list().map((s) => s.id) });
    expect(updated).toMatchObject({ tls: 'https', authority: { fingerprint: expect.any(String) } });
    const caFile = authorityFile(NEW_GROUP, updated.authority.certificate);
    for (const server of bed.servers) {
      await until(`${server.name} to present ${NEW_GROUP}'s certificate`, async () =>
        (await curl('--cacert', caFile, `https://${server.host}:8700/_berth/health`)).status === 200 ? true : undefined,
      );
    }
    // The other group of the same servers serves plain HTTP again.
    expect((await predict('http', bed.servers[0].host, '-H', `Authorization: Bearer ${secret}`)).status).toBe(200);
  });
});
