import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createBerth, type Berth } from '../../../electron/main/app';
import { readAuditFile } from '../../../electron/main/services/access/remote';
import * as groupRemote from '../../../electron/main/services/groups/remote';
import { listBerthContainers } from '../../../electron/main/services/logs/remote';
import { docker } from '../../../electron/main/services/remote/command';
import { defaultLayout } from '../../../electron/main/services/remote/layout';
import { addServerInput, forgetGroupOnBed, registerBed } from '../bed';
import { buildTestModel, removeLocalImage } from '../deploy/test-images';
import { bed, memberKey, sshAs } from './helpers';

/**
 * One identity per person (issue 12): three members, each with their own key and data folder. The deployer's and
 * the viewer's Berths log in with their member keys only, so every command they send is a berth-shell verb and
 * every right is the server's decision. The admin's Berth (root key) claims the servers and manages the team.
 */
const tag = process.pid.toString(36);
const GROUP = `team-${tag}`;
const MINE = `mine-${tag}`; // the deployer's scope
const OTHER = `other-${tag}`;
const FOREIGN = 'members-other-team';
const images = { one: `berth/${MINE}:one`, two: `berth/${MINE}:two`, other: `berth/${OTHER}:one` };
const layout = defaultLayout;

const ada = memberKey('ada');
const dan = memberKey('dan');
const vera = memberKey('vera');
const runner = memberKey('ci-runner'); // a CI runner's deployer key, Dan's
const ids: Record<string, string> = {};
let admin: Berth;
let deployer: Berth;
let viewer: Berth;

const newBerth = (name: string) => {
  const berth = createBerth({ home: mkdtempSync(join(tmpdir(), `berth-${name}-`)), mode: 'cli', version: 'test' });
  berth.services.settings.update({ gatewayBuilderImage: 'berth-base/go-builder:bookworm' });
  return berth;
};

/** A member's Berth: the bed's servers registered with the member's own key, then the groups they hold read. */
async function memberBerth(name: string, keyPath: string): Promise<Berth> {
  const berth = newBerth(name);
  for (const server of bed.servers) await berth.services.servers.add({ ...addServerInput(bed, server), auth: { type: 'keyFile', path: keyPath } });
  const attached = await berth.services.groups.attach();
  expect(attached.problems).toEqual([]);
  return berth;
}

const serverIds = (berth: Berth) => berth.services.registry.list().map((s) => s.id);
const connection = (berth: Berth, index = 0) => berth.services.servers.connection(serverIds(berth)[index]);

async function predict(serverIndex: number, model: string): Promise<string> {
  const response = await fetch(`http://${bed.servers[serverIndex].host}:8700/${model}/latest/predict`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ inputs: [1] }),
    signal: AbortSignal.timeout(5000),
  });
  const body = (await response.json()) as { predictions?: { label: string } };
  return body.predictions?.label ?? `status ${response.status}`;
}

const deploy = (berth: Berth, model: string, imageRef: string) =>
  berth.services.orchestrator.deploy({ model, imageRef, group: GROUP, replicas: 1, memoryMb: 256, readyTimeoutMs: 30_000 });

beforeAll(async () => {
  buildTestModel(images.one, { label: 'one' });
  buildTestModel(images.two, { label: 'two' });
  buildTestModel(images.other, { label: 'other' });
  // Another team's group on the same servers, none of whose members these are: a member lists only their own
  // groups, while each server's table is derived from all of them (a revocation must still reach it).
  const otherTeam = newBerth('other-team');
  await registerBed(otherTeam, bed, { group: { name: FOREIGN, replicas: 1 } });
  otherTeam.close();
  admin = newBerth('admin');
  await registerBed(admin, bed, { group: { name: GROUP, replicas: 1 } });
  for (const [key, name, role, models] of [
    [ada, 'Ada Admin', 'admin', undefined],
    [dan, 'Dan Deployer', 'deployer', [MINE]],
    [vera, 'Vera Viewer', 'viewer', undefined],
  ] as const) {
    const change = await admin.services.access.addMember({ name, publicKey: key.publicKey, role, group: GROUP, ...(models ? { models: [...models] } : {}) });
    expect(change.push.servers.every((s) => s.ok)).toBe(true);
  }
  for (const m of admin.services.access.listMembers()) ids[m.name.split(' ')[0].toLowerCase()] = m.id;
  const ci = await admin.services.access.addMember({ name: 'ci-mine', publicKey: runner.publicKey, role: 'deployer', group: GROUP, models: [MINE], owner: ids.dan });
  ids.runner = ci.members.find((m) => m.name === 'ci-mine')!.id;
  // Claimed: from now on the admin's Berth too logs in with its member's own key.
  const switched = await admin.services.servers.switchKey({ serverIds: serverIds(admin), auth: { type: 'keyFile', path: ada.path } });
  expect(switched.message).toMatch(/Berth now logs in to tb1, tb2, tb3 as Ada Admin \(admin\).*root key this data folder used is no longer needed/);
  // The admin's first deploy runs the gateway everywhere; deployers may not touch it.
  await deploy(admin, OTHER, images.other);
  await admin.services.orchestrator.setPublic(OTHER, true);
  deployer = await memberBerth('dan', dan.path);
  viewer = await memberBerth('vera', vera.path);
});

afterAll(async () => {
  try {
    // An admin offboarding their own key would lock their Berth out halfway: clean up with the claiming root login.
    await admin.services.servers.switchKey({ serverIds: serverIds(admin), auth: { type: 'keyFile', path: bed.clientKey } });
    for (const id of Object.values(ids)) await admin.services.access.removeMember(id).catch(() => undefined);
    for (const i of bed.servers.keys()) {
      const ssh = await admin.services.servers.connection(serverIds(admin)[i]);
      for (const model of [MINE, OTHER]) await ssh.exec(`docker ps -aq --filter label=berth.model=${model} | xargs -r docker rm -f >/dev/null 2>&1; rm -rf /var/lib/berth/lock/${model}`);
      await ssh.exec(`docker rmi -f ${Object.values(images).join(' ')} >/dev/null 2>&1; true`);
    }
  } finally {
    forgetGroupOnBed(bed, GROUP);
    forgetGroupOnBed(bed, FOREIGN);
    for (const b of [admin, deployer, viewer]) b?.close();
    for (const image of Object.values(images)) removeLocalImage(image);
  }
});

describe('every Berth acts through the verbs with its member’s own key', () => {
  it('knows who it is on each server: the rights the server resolved from the key', async () => {
    const ssh = await connection(deployer);
    expect(ssh.member).toMatchObject({ member: ids.dan, name: 'Dan Deployer', role: 'deployer', groups: { [GROUP]: { role: 'deployer', models: [MINE] } } });
    expect((await connection(viewer, 2)).member).toMatchObject({ member: ids.vera, role: 'viewer' });
    expect(JSON.parse(sshAs(runner.path, bed.servers[1].host, 'whoami').stdout)).toMatchObject({ member: ids.runner, role: 'deployer' });
    expect((await connection(admin)).member).toMatchObject({ member: ids.ada, role: 'admin' }); // switched after the claim
    // Registering read the servers' facts through the `facts` verb; the liveness ping goes through `help`.
    expect(deployer.services.servers.list().map((s) => [s.facts?.engineVersion ?? null, s.login?.kind])).toEqual(bed.servers.map(() => [expect.stringMatching(/^\d+\./), 'member']));
    expect(await deployer.services.servers.ping()).toEqual({ up: 3, total: 3 });
    // The deployer's Berth read the group its servers hold: its models, servers and members.
    expect(deployer.services.registry.group(GROUP).serverIds).toHaveLength(3);
  });

  it('the deployer deploys and rolls back their model through the app’s own services', async () => {
    const started = Date.now();
    expect(await deploy(deployer, MINE, images.one)).toMatchObject({ number: 1, state: 'live' });
    const firstMs = Date.now() - started;
    await admin.services.groups.refresh(GROUP);
    await admin.services.orchestrator.setPublic(MINE, true);
    expect(await Promise.all(bed.servers.map((_, i) => predict(i, MINE)))).toEqual(['one', 'one', 'one']);
    expect(await deploy(deployer, MINE, images.two)).toMatchObject({ number: 2, state: 'live' });
    expect(await Promise.all(bed.servers.map((_, i) => predict(i, MINE)))).toEqual(['two', 'two', 'two']);
    await deployer.services.orchestrator.rollback(MINE, 1);
    expect(await Promise.all(bed.servers.map((_, i) => predict(i, MINE)))).toEqual(['one', 'one', 'one']);
    console.log(`a deployer's first deploy on 3 servers through berth-shell verbs took ${firstMs} ms`);
    // The group state names the deployer as the one who changed it.
    const state = JSON.parse((await (await connection(admin)).run(`cat ${layout.berthDir}/groups/${GROUP}/state.json`)).trim());
    expect(state.revision.state.models[MINE].aliases.latest).toBe(1);
  });

  it('refuses the deployer, naming the role, outside their scope: another model, keys, routes, the gateway', async () => {
    await expect(deploy(deployer, OTHER, images.other)).rejects.toMatchObject({ kind: 'Unauthorized', message: expect.stringMatching(new RegExp(`role deployer on model ${OTHER} is needed`)) });
    const key = await deployer.services.access.createKey({ name: 'ci', scope: { kind: 'model', model: MINE }, group: GROUP }).catch((e) => e);
    expect(key.message).toMatch(new RegExp(`role admin in group ${GROUP} is needed to change keys \\(you have: deployer only on ${MINE}\\)`));
    const ssh = await connection(deployer);
    // A gateway table is only ever derived by the server: writing one has no verb.
    await expect(ssh.run(groupRemote.applyRoutes(layout, `${layout.berthDir}/gateway`, 'berth-gateway', 'x'.repeat(64)), { stdin: '{}' })).rejects.toMatchObject({
      kind: 'Unauthorized',
      message: expect.stringMatching(/no berth-shell verb, so only an admin may run it \(Dan Deployer has role deployer\)/),
    });
    expect(sshAs(dan.path, bed.servers[0].host, 'routes-write', '{}').code).toBe(126);
    await expect(ssh.run(docker('stop', 'berth-gateway').asVerb(['stop', 'berth-gateway']))).rejects.toMatchObject({
      kind: 'Unauthorized',
      message: expect.stringMatching(/berth-gateway is not a model replica; only an admin may touch it/),
    });
    // Nothing but the verbs: docker itself and a shell are refused to the deployer's key.
    for (const request of ['docker ps', 'bash -c id', 'sh']) expect(sshAs(dan.path, bed.servers[1].host, request).code).toBe(126);
  });

  it('lets the viewer read logs and the audit, and refuses them any change', async () => {
    const ssh = await connection(viewer);
    const replica = (await listBerthContainers(ssh)).find((c) => c.model === MINE && c.state === 'running')!;
    expect(replica.name).toMatch(new RegExp(`^berth-${MINE}-v1-r1$`));
    const logs = await ssh.exec(docker('logs', '--tail', 20, replica.id).asVerb(['logs', replica.name, '--tail', 20]));
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout.toString() + logs.stderr).toMatch(/\S/);
    expect(await readAuditFile(ssh, layout)).toMatch(/"action":"deploy"/);
    // The inference log (the gateway's request files, the replicas' request lines) through the viewer's verbs.
    const sync = await viewer.dispatcher.call('inference.sync', {});
    if (!sync.ok) throw new Error(sync.error.message);
    const pulled = (sync.value as { servers: Array<{ server: string; gateway: number; replica: number; error: string | null }> }).servers;
    expect(pulled.map((p) => [p.server, p.error ?? null])).toEqual(bed.servers.map((s) => [s.name, null]));
    expect(pulled.reduce((n, p) => n + p.gateway, 0)).toBeGreaterThanOrEqual(9);
    expect(pulled.reduce((n, p) => n + p.replica, 0)).toBeGreaterThanOrEqual(9);
    await expect(deploy(viewer, MINE, images.two)).rejects.toMatchObject({ kind: 'Unauthorized', message: expect.stringMatching(/role viewer may not run 'lock' \(role deployer is needed\)/) });
    await expect(ssh.run(docker('rm', '-f', replica.name).asVerb(['rm', replica.name]))).rejects.toMatchObject({ kind: 'Unauthorized', message: expect.stringMatching(/role viewer may not run 'rm'/) });
  });

  it('records the member the server resolved from the key, whatever actor the client names', async () => {
    const target = `forged-${tag}-${Date.now()}`;
    const forged = sshAs(dan.path, bed.servers[2].host, 'audit-append', JSON.stringify({ at: new Date().toISOString(), actor: 'Ada Admin', action: 'key.create', target, result: 'ok' }));
    expect(forged.code, forged.stderr).toBe(0);
    const entries = (await readAuditFile(await connection(admin, 2), layout))
      .split('\n')
      .filter(Boolean)
      .map((line) => JSON.parse(line) as { entry?: Record<string, unknown> } & Record<string, unknown>)
      .map((line) => (line.entry ?? line) as Record<string, unknown>);
    const forgedEntry = entries.find((e) => e.target === target)!;
    expect(forgedEntry).toMatchObject({ actor: 'Dan Deployer', member: ids.dan });
    const deploys = entries.filter((e) => e.action === 'deploy' && String(e.target).startsWith(MINE));
    expect(deploys.length).toBeGreaterThanOrEqual(2);
    for (const e of deploys) expect(e).toMatchObject({ actor: 'Dan Deployer', member: ids.dan });
    expect(entries.find((e) => e.action === 'rollback' && String(e.target).startsWith(MINE))).toMatchObject({ member: ids.dan });
  });

  it('offboarding the deployer refuses their next call on every server', async () => {
    const started = Date.now();
    const removed = await admin.services.access.removeMember(ids.dan, { withOwned: true });
    const offboardMs = Date.now() - started;
    expect(removed.push.servers.map((s) => s.error ?? 'ok')).toEqual(['ok', 'ok', 'ok']);
    console.log(`offboarding a member on 3 servers took ${offboardMs} ms`);
    expect(removed.members.map((m) => m.name).sort()).toEqual(['Ada Admin', 'Vera Viewer']);
    delete ids.dan;
    delete ids.runner;
    for (const id of serverIds(deployer)) {
      // The connection the deployer's Berth already holds: berth-shell reads the rights again on every request.
      const held = await deployer.services.servers.connection(id);
      await expect(held.run(groupRemote.listGroups(layout, GROUP))).rejects.toMatchObject({ kind: 'Unauthorized', message: expect.stringMatching(/belongs to no member/) });
      // A new connection is refused at once.
      expect(await deployer.services.servers.test(id)).toMatchObject({ state: 'down', lastError: expect.stringMatching(/refused .*this key belongs to no member/) });
    }
    await expect(deploy(deployer, MINE, images.two)).rejects.toThrow(/belongs to no member|refused/);
    // Dan's CI runner key went with him.
    for (const server of bed.servers) expect(sshAs(runner.path, server.host, 'whoami').code).toBe(255);
  });
});
