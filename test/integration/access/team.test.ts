import { execFileSync, spawnSync } from 'node:child_process';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { MemberView } from '../../../shared/access';
import { BLOCK_BEGIN } from '../../../electron/main/services/access/authorized-keys';
import { bed, createTestBerth, GROUP, hostOf, memberKey, sshAs, testLayout, type TestBerth } from './helpers';

/**
 * The team on the group state: members and roles are changes of the group's state, each server derives its
 * authorized_keys block from the members of all its groups, and an offboarding applies at once on every server.
 */
const layout = testLayout('team', { sshLogins: true });
const tag = `accesstest${process.pid}`;
const image = `berth/${tag}:v1`;
const evilImage = `${tag}-evil:1`;
const seed = `berth-${tag}-seed`;
const unlabelled = `berth-${tag}-plain`; // a berth- container that is no model replica (like the gateway)
const replica = `berth-${tag}-v1-r0`;
const vera = memberKey('vera'); // viewer
const dan = memberKey('dan'); // deployer
const ada = memberKey('ada'); // admin
const tb1 = hostOf('tb1');

let berth: TestBerth;
let other: TestBerth | undefined;
const originalKeys = new Map<string, string>();
const ids: Record<string, string> = {};

/** A tiny image made on tb1 without a registry: a static binary (tini) whose help text is its whole output. */
async function makeTestImage() {
  const tar = execFileSync('tar', ['-C', '/usr/bin', '-cf', '-', '--transform', 's,^tini-static$,tini,', 'tini-static']);
  const imported = await berth.root('tb1', `docker import --change 'ENTRYPOINT ["/tini", "-h"]' - ${image} && docker tag ${image} ${evilImage}`, tar);
  expect(imported.code, imported.stderr).toBe(0);
  const seeded = await berth.root('tb1', `docker run -d --name ${seed} --label berth.model=${tag} ${image} && docker create --name ${unlabelled} ${image}`);
  expect(seeded.code, seeded.stderr).toBe(0);
}

beforeAll(async () => {
  berth = createTestBerth(layout);
  await berth.addServers();
  for (const s of bed.servers) originalKeys.set(s.name, (await berth.root(s.name, 'cat /root/.ssh/authorized_keys')).stdout.toString());
  await berth.createGroup();
  await makeTestImage();
});

afterAll(async () => {
  if (!berth) return;
  try {
    await berth.groups.refresh(GROUP).catch(() => undefined);
    for (const m of berth.access.listMembers()) await berth.access.removeMember(m.id);
    for (const s of bed.servers) {
      const now = (await berth.root(s.name, 'cat /root/.ssh/authorized_keys')).stdout.toString();
      if (now !== originalKeys.get(s.name)) console.error(`authorized_keys on ${s.name} differs from before the test:\n${now}`);
      await berth.root(s.name, `rm -rf ${layout.base}`);
    }
    await berth.root('tb1', `docker rm -f ${seed} ${unlabelled} ${replica} >/dev/null 2>&1; docker image rm -f ${image} ${evilImage} >/dev/null 2>&1; true`);
  } finally {
    berth.close();
    other?.close();
  }
});

describe('team members enforced on the servers', () => {
  it('installs berth-shell and every member key on every server, leaving Berth’s own key untouched', async () => {
    const started = Date.now();
    const first = await berth.access.addMember({ name: 'Vera Viewer', publicKey: vera.publicKey, role: 'viewer' });
    const pushMs = Date.now() - started;
    expect(first.push.servers.map((s) => [s.server, s.ok, s.error])).toEqual([
      ['tb1', true, undefined],
      ['tb2', true, undefined],
      ['tb3', true, undefined],
    ]);
    const second = await berth.access.addMember({ name: 'Dan Deployer', publicKey: dan.publicKey, role: 'deployer' });
    const third = await berth.access.addMember({ name: 'Ada Admin', publicKey: ada.publicKey, role: 'admin' });
    expect(second.push.servers.every((s) => s.ok) && third.push.servers.every((s) => s.ok)).toBe(true);
    for (const m of third.members as MemberView[]) ids[m.name.split(' ')[0].toLowerCase()] = m.id;
    expect(third.members.map((m) => `${m.name} ${m.role} ${m.group}`)).toEqual(['Ada Admin admin access', 'Dan Deployer deployer access', 'Vera Viewer viewer access']);
    expect(third.push.servers.map((s) => s.members)).toEqual([3, 3, 3]);
    console.log(`adding a member (new revision, team derived on 3 servers) took ${pushMs} ms`);

    for (const s of bed.servers) {
      const keys = (await berth.root(s.name, 'cat /root/.ssh/authorized_keys')).stdout.toString();
      expect(keys.startsWith(originalKeys.get(s.name)!)).toBe(true);
      expect(keys).toContain(BLOCK_BEGIN);
      expect(keys).toContain(`restrict,command="${layout.libDir}/berth-shell --berth-dir=${layout.berthDir} ${ids.vera}" ${vera.publicKey.split(' ').slice(0, 2).join(' ')} berth-member:${ids.vera}`);
      expect(keys).toContain(`restrict,pty,command="${layout.libDir}/berth-shell --berth-dir=${layout.berthDir} ${ids.ada}"`);
      const mode = (await berth.root(s.name, `stat -c '%a %U' /root/.ssh/authorized_keys ${layout.libDir}/berth-shell`)).stdout.toString();
      expect(mode.split('\n').slice(0, 2)).toEqual(['600 root', '755 root']);
      // The servers hold who the members are: the group state has them, keys and roles included.
      const state = JSON.parse((await berth.root(s.name, `cat ${layout.berthDir}/groups/${GROUP}/state.json`)).stdout.toString());
      expect(state.revision.state.members.map((m: { id: string; role: string }) => `${m.id} ${m.role}`).sort()).toEqual(
        [`${ids.vera} viewer`, `${ids.dan} deployer`, `${ids.ada} admin`].sort(),
      );
    }
    await expect(berth.access.addMember({ name: 'Vera Again', publicKey: vera.publicKey, role: 'admin' })).rejects.toThrow(/already belongs to Vera Viewer/);
    await expect(berth.access.addMember({ name: 'Vera Viewer', publicKey: memberKey('vera2').publicKey, role: 'admin' })).rejects.toThrow(/named "Vera Viewer" already exists/);
    // Berth (and the bed's own ssh client) still log in as before.
    expect((await berth.servers.test(berth.registry.list()[0].id)).state).toBe('up');
    expect(execFileSync('ssh', ['-F', bed.sshConfig, 'tb3', 'echo still-root']).toString().trim()).toBe('still-root');
  });

  it('lets a viewer see status and logs', () => {
    expect(JSON.parse(sshAs(vera.path, tb1, 'whoami').stdout)).toMatchObject({ member: ids.vera, name: 'Vera Viewer', role: 'viewer', host: 'tb1', groups: { [GROUP]: { role: 'viewer' } } });
    const ps = sshAs(vera.path, tb1, 'ps');
    expect(ps.code, ps.stderr).toBe(0);
    expect(ps.stdout.split('\n').map((l) => JSON.parse(l).Names)).toContain(seed);
    const logs = sshAs(vera.path, tb1, `logs ${seed} --tail 50`);
    expect(logs.code, logs.stderr).toBe(0);
    expect(logs.stdout + logs.stderr).toMatch(/tini/);
    const inspect = sshAs(vera.path, tb1, `inspect ${seed}`);
    expect(JSON.parse(inspect.stdout)[0].Name).toBe(`/${seed}`);
    expect(JSON.parse(sshAs(vera.path, tb1, 'health').stdout)).toMatchObject({ docker: expect.stringMatching(/^\d+\./) });
  });

  it('refuses a viewer docker itself, deploy verbs, shell tricks, a shell and port forwarding', () => {
    const verbs = 'whoami help ps ports logs inspect replica-state stats health facts images image-id image-inventory audit-read locks routes-read state-read state-list view request-log-list request-log-read request-lines';
    const docker = sshAs(vera.path, tb1, 'docker run --rm -it debian bash');
    expect(docker).toEqual({ code: 126, stdout: '', stderr: `berth: role viewer may not run 'docker run': not a Berth verb; role viewer may run: ${verbs}` });
    const run = sshAs(vera.path, tb1, `run --name berth-x-r0 ${image}`);
    expect(run).toEqual({ code: 126, stdout: '', stderr: `berth: role viewer may not run 'run' (role deployer is needed); role viewer may run: ${verbs}` });
    expect(sshAs(vera.path, tb1, `rm ${seed}`).code).toBe(126);
    const trick = sshAs(vera.path, tb1, 'ps; id');
    expect(trick.code).toBe(126);
    expect(trick.stderr).toBe(`berth: refused 'ps; id': berth-shell accepts plain words only (no quotes, $, ;, |, &, redirections or globs); role viewer may run: ${verbs}`);
    const shell = sshAs(vera.path, tb1);
    expect(shell.code).toBe(126);
    expect(shell.stderr).toContain('berth: role viewer has no interactive shell on this server');
    const forward = spawnSshForward(vera.path);
    expect(forward.code).toBe(255);
    expect(forward.stderr).toMatch(/remote port forwarding failed/i);
    // the seed container is untouched; the gateway is not a model replica: only admins may look into it
    expect(sshAs(vera.path, tb1, `inspect ${seed}`).code).toBe(0);
    expect(sshAs(vera.path, tb1, `logs ${unlabelled}`)).toMatchObject({ code: 126, stderr: `berth: ${unlabelled} is not a model replica; only an admin may touch it` });
  });

  it('lets a deployer run, stop and remove a replica with only the allowed options', async () => {
    const run = sshAs(
      dan.path,
      tb1,
      `run --name ${replica} --network host --restart on-failure:5 --memory 64m --cpus 0.5 --label berth.model=${tag} --label berth.version=1 --env PORT=9999 --log-driver json-file --log-opt max-size=1m ${image}`,
    );
    expect(run.code, run.stderr).toBe(0);
    expect(run.stdout).toMatch(/^[0-9a-f]{64}$/);
    const inspected = JSON.parse((await berth.root('tb1', `docker inspect ${replica}`)).stdout.toString())[0];
    expect(inspected.HostConfig).toMatchObject({ Privileged: false, Memory: 64 * 1024 * 1024, NanoCpus: 5e8, NetworkMode: 'host', Binds: null, CapAdd: null });
    expect(inspected.Config.Labels).toMatchObject({ 'berth.model': tag, 'berth.version': '1' });
    expect(sshAs(dan.path, tb1, `stop ${replica}`).code).toBe(0);
    expect(sshAs(dan.path, tb1, `rm ${replica}`).code).toBe(0);
    expect((await berth.root('tb1', `docker inspect ${replica}`)).code).not.toBe(0);

    const privileged = sshAs(dan.path, tb1, `run --name ${replica} --privileged ${image}`);
    expect(privileged.code).toBe(64);
    expect(privileged.stderr).toMatch(/^berth: run: option '--privileged' is not allowed for deployers/);
    const mount = sshAs(dan.path, tb1, `run --name ${replica} -v /:/host ${image}`);
    expect(mount.code).toBe(64);
    expect(sshAs(dan.path, tb1, 'docker ps').code).toBe(126);
    expect(sshAs(dan.path, tb1, 'break-lock iris').stderr).toMatch(/^berth: role deployer may not run 'break-lock'/);
  });

  it('lets a deployer load berth/ images only, refusing any other tag before anything is loaded', async () => {
    const good = (await berth.root('tb1', `docker save ${image}`)).stdout;
    const loaded = sshAs(dan.path, tb1, 'load', good);
    expect(loaded.code, loaded.stderr).toBe(0);
    expect(loaded.stdout).toContain(`Loaded image: ${image}`);
    const before = (await berth.root('tb1', `docker image inspect -f '{{.Id}}' ${evilImage}`)).stdout.toString();
    const evil = (await berth.root('tb1', `docker save ${evilImage}`)).stdout;
    const refused = sshAs(dan.path, tb1, 'load', evil);
    expect(refused.code).toBe(126);
    expect(refused.stderr).toBe(`berth: role deployer may only load images named berth/<model>:<version>; refused before loading: ${evilImage}`);
    // Nothing was loaded, so nothing could overwrite an unrelated tag.
    expect((await berth.root('tb1', `docker image inspect -f '{{.Id}}' ${evilImage}`)).stdout.toString()).toBe(before);
  });

  it('derives routes.json on the server instead of taking one; locks and audit entries carry the member the server resolved', async () => {
    const forged = JSON.stringify({ revision: 7, models: { x: { public: true } }, keys: [] });
    expect(sshAs(dan.path, tb1, 'routes-write', forged)).toMatchObject({ code: 126, stderr: expect.stringMatching(/^berth: role deployer may not run 'routes-write': not a Berth verb/) });
    const derived = sshAs(dan.path, tb1, 'routes-derive');
    expect(derived.code, derived.stderr).toBe(0);
    const routes = JSON.parse(sshAs(dan.path, tb1, 'routes-read').stdout);
    expect(routes.models.x).toBeUndefined();

    // The app's lock semantics (token, expiry), with the holder stamped by the server.
    const note = JSON.stringify({ holder: 'ada', machine: 'laptop', message: 'trying v2', since: '2030-01-01T00:00:00Z', token: 'tok1' });
    expect(sshAs(dan.path, tb1, `lock ${tag} 60`, note)).toMatchObject({ code: 0, stdout: 'acquired' });
    const busy = sshAs(dan.path, tb1, `lock ${tag} 60`, note);
    expect(busy).toMatchObject({ code: 0, stdout: expect.stringMatching(/^held\t/) });
    const held = busy.stdout.slice(busy.stdout.indexOf('\t') + 1);
    expect(JSON.parse(held)).toMatchObject({ holder: 'Dan Deployer', member: ids.dan, machine: 'laptop', message: 'trying v2', token: 'tok1' });
    expect(sshAs(vera.path, tb1, 'locks').stdout).toBe(`${tag}\t${held}`);
    expect(sshAs(vera.path, tb1, `unlock ${tag} tok1`).code).toBe(126);
    expect(sshAs(dan.path, tb1, `unlock ${tag}`).code).toBe(126); // without the token: an admin's break
    expect(sshAs(dan.path, tb1, `unlock ${tag} other`)).toMatchObject({ code: 0, stdout: 'not-ours' });
    expect(sshAs(dan.path, tb1, `unlock ${tag} tok1`)).toMatchObject({ code: 0, stdout: 'released' });
    expect(sshAs(vera.path, tb1, 'locks').stdout).toBe('');

    // A forged actor is recorded as the member the server resolved from the key.
    const appended = sshAs(dan.path, tb1, 'audit-append', '{"action":"deploy","actor":"ada","target":"x v1"}');
    expect(appended.code, appended.stderr).toBe(0);
    expect(appended.stdout).toMatch(/^\d+ [0-9a-f]{64}$/);
    const last = JSON.parse(sshAs(vera.path, tb1, 'audit-read --tail 1').stdout);
    expect(last.entry).toMatchObject({ action: 'deploy', actor: 'Dan Deployer', member: ids.dan, target: 'x v1' });
    expect(sshAs(vera.path, tb1, 'audit-append', '{"action":"x"}').code).toBe(126);
  });

  it('limits a deployer to their models on every server; the refusal names the role needed', async () => {
    const limited = await berth.access.setRole(ids.dan, 'deployer', ['m1']);
    expect(limited.push.servers.every((s) => s.ok)).toBe(true);
    expect(limited.members.find((m) => m.id === ids.dan)!.models).toEqual(['m1']);
    const stop = sshAs(dan.path, tb1, `stop ${seed}`);
    expect(stop.code).toBe(126);
    expect(stop.stderr).toMatch(new RegExp(`^berth: role deployer on model ${tag} is needed to stop ${seed}`));
    for (const s of bed.servers) {
      const lock = sshAs(dan.path, s.host, `lock ${tag} 60`, '{}');
      expect(lock.code, s.name).toBe(126);
      expect(lock.stderr).toMatch(new RegExp(`^berth: role deployer on model ${tag} is needed to`));
    }
    expect(sshAs(dan.path, tb1, `logs ${seed} --tail 1`).code).toBe(0); // still a viewer of the others
    await berth.access.setRole(ids.dan, 'deployer');
    expect(sshAs(dan.path, tb1, `restart ${seed}`).code).toBe(0);
  });

  it('gives an admin a full shell, and the verbs with "berth …"', () => {
    expect(sshAs(ada.path, tb1, 'id -u; docker version --format {{.Server.Os}}').stdout).toBe('0\nlinux');
    expect(JSON.parse(sshAs(ada.path, tb1, 'berth whoami').stdout)).toMatchObject({ role: 'admin', member: ids.ada });
  });

  it('changes a role on every server at once', async () => {
    const changed = await berth.access.setRole(ids.vera, 'deployer');
    expect(changed.push.servers.every((s) => s.ok)).toBe(true);
    for (const s of bed.servers) expect(JSON.parse(sshAs(vera.path, s.host, 'whoami').stdout).role).toBe('deployer');
    await berth.access.setRole(ids.vera, 'viewer');
    expect(JSON.parse(sshAs(vera.path, hostOf('tb2'), 'whoami').stdout).role).toBe('viewer');
  });

  it('offboarding removes access on every server in one action', async () => {
    const before = bed.servers.map((s) => sshAs(vera.path, s.host, 'whoami').code);
    expect(before).toEqual([0, 0, 0]);
    const started = Date.now();
    const change = await berth.access.removeMember(ids.vera);
    console.log(`offboarding on 3 servers took ${Date.now() - started} ms`);
    expect(change.push.servers.map((s) => `${s.server}:${s.ok}`)).toEqual(['tb1:true', 'tb2:true', 'tb3:true']);
    expect(change.push.note).toBeUndefined();
    expect(change.members.map((m) => m.name)).toEqual(['Ada Admin', 'Dan Deployer']);
    for (const s of bed.servers) {
      const denied = sshAs(vera.path, s.host, 'whoami');
      expect(denied.code, s.name).toBe(255);
      expect(denied.stderr).toMatch(/Permission denied \(publickey\)/);
      expect(sshAs(dan.path, s.host, 'whoami').code).toBe(0);
      // In the grow-only revocations too: no revision written from an older view can let Vera back in.
      expect((await berth.root(s.name, `cat ${layout.berthDir}/groups/${GROUP}/revoked.jsonl`)).stdout.toString()).toContain(`"kind":"member","id":"${ids.vera}"`);
    }
  });

  it('audits every member change with the per-server result', () => {
    const entries = berth.audit.list({ action: 'member' });
    expect(entries.map((e) => `${e.action} ${e.target} ${e.result}`)).toEqual([
      'member.remove Vera Viewer ok',
      'member.role Vera Viewer ok',
      'member.role Vera Viewer ok',
      'member.role Dan Deployer ok',
      'member.role Dan Deployer ok',
      'member.add Ada Admin ok',
      'member.add Dan Deployer ok',
      'member.add Vera Viewer ok',
    ]);
    expect(entries[0].details).toMatchObject({ member: ids.vera, role: 'viewer', servers: ['tb1:ok', 'tb2:ok', 'tb3:ok'] });
    expect(entries[1].details).toMatchObject({ from: 'deployer', to: 'viewer' });
    expect(entries[4].details).toMatchObject({ from: 'deployer', to: 'deployer', models: ['m1'] });
    expect(entries[0].deliveries.map((d) => `${d.server}:${d.state}`)).toEqual(['tb1:delivered', 'tb2:delivered', 'tb3:delivered']);
  });

  it('a second data folder that adds the same servers sees the team, and its changes reach the servers and the first one', async () => {
    other = createTestBerth(layout, { actor: 'bob', machine: 'bob-laptop' });
    await other.addServers();
    expect((await other.groups.attach()).problems).toEqual([]);
    const view = (list: MemberView[]) => list.map(({ id, group, name, role, keyType, fingerprint }) => ({ id, group, name, role, keyType, fingerprint }));
    expect(view(other.access.listMembers())).toEqual(view(berth.access.listMembers()));
    expect(other.access.listMembers().map((m) => `${m.name} ${m.role}`)).toEqual(['Ada Admin admin', 'Dan Deployer deployer']);

    // The second Berth's change is derived from the whole group state: Ada keeps her access, Dan gets his new role.
    const changed = await other.access.setRole(ids.dan, 'viewer');
    expect(changed.push.servers.every((s) => s.ok)).toBe(true);
    for (const s of bed.servers) {
      expect(JSON.parse(sshAs(dan.path, s.host, 'whoami').stdout).role).toBe('viewer');
      expect(JSON.parse(sshAs(ada.path, s.host, 'berth whoami').stdout).role).toBe('admin');
    }
    await berth.groups.refresh(GROUP);
    expect(berth.access.listMembers().find((m) => m.id === ids.dan)!.role).toBe('viewer');
  });
});

function spawnSshForward(keyPath: string) {
  const port = 20000 + (process.pid % 20000);
  const result = spawnSync(
    'ssh',
    ['-F', '/dev/null', '-i', keyPath, '-o', 'IdentitiesOnly=yes', '-o', `UserKnownHostsFile=${bed.knownHosts}`, '-o', 'BatchMode=yes',
      '-o', 'ExitOnForwardFailure=yes', '-R', `127.0.0.1:${port}:127.0.0.1:22`, `root@${tb1}`, 'whoami'],
    { encoding: 'utf8', timeout: 30_000 },
  );
  return { code: result.status, stderr: result.stderr };
}
