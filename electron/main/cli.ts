/**
 * `berth`: the command line over the same contract and services the app uses, for scripts and CI/CD pipelines.
 * Exit codes: 0 done, 1 the operation failed (message on stderr), 2 usage error, 3 a host key must be accepted.
 */
import { parseArgs } from 'node:util';
import type { CallName, CallOutput, StreamEvent, StreamName } from '../../shared/contract';
import { BerthError } from '../../shared/errors';
import { createBerth, resolveHome, type Berth } from './app';
import { createPatch } from 'diff';
import { existsSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { gpuRequestOf, PROJECT_FILE, REVIEWED_DIR, type ProjectFile } from '../../shared/project-file';
import { applyProjectFile, describeDeployment, pipelineCredentials } from './services/project/deployment';
import { projectRoot, readProjectFile, renderProjectFile } from './services/project/project-file';
import { auditCommand } from './services/access/audit/cli';
import { followLogsForCli } from './services/logs/cli';
import { deployEventPrinter, gpusOption } from './services/deploy/cli';
import { buildPlatformFor } from './services/deploy/platform';
import { buildPlaceFor } from './services/deploy/build-place';
import { BuildOn, type BuildPlace } from '../../shared/build-on';
import { pageCommand, pagesUsage } from './cli-pages';
import { consoleIo, UsageError, type Call } from './rpc/cli-kit';
import { version } from '../../package.json';
import type { z } from 'zod';
import { ListenMode, TlsMode } from '../../shared/tls';
import { plainHttpWarning } from './services/deploy/cli';

const usage = `Usage: berth <command> [options]

  engine                                   the local Docker engine Berth builds with
  open <path>                              remember a project folder or .ipynb
  servers list [--json]
  servers add --name N --host H [--port 22] [--user root] (--key FILE | --agent) [--accept-host-key SHA256:...]
  servers switch-key <name>... --key FILE   log in with this key from now on (e.g. your member key after a claim)
  servers test <name>
  servers remove <name>
  servers forget <name>                    a server gone for good: it leaves its groups, its replicas are unplaced
  groups list [--json]
  groups create <name> [--replicas 2] [--tls https|off] [--listen all|host]   new groups serve HTTPS only
  groups set <name> <server>...            make these servers the group's members
  groups tls <name> https|off [--new-authority]   HTTPS only (certificates first), or plain HTTP too
  groups listen <name> all|host            gateways listen on every interface, or on the server's address only
  groups ca <name>                         print the group CA certificate (PEM) that clients trust
  groups delete <name>
  build <path> [--entrypoint FN] [--no-smoke]
  init [<path>] --group G [--force]          write berth.toml and .berth/ (the reviewed Dockerfile and requirements)
  deploy [<path>] [--gpus N|0,1] [--build-on local|server|auto] [--message TEXT] [--break-lock] [--json]   deploy a project with a berth.toml (default: this folder)
  deploy [<path>] --target local [--message TEXT] [--json]   deploy to this computer (its own Docker engine, http://127.0.0.1:8700), no server needed
  deploy --group G (--build ID | <path>) [--memory MiB] [--gpus N|0,1] [--message TEXT] [--break-lock] [--json]
                                           --gpus: GPUs per replica, a count (2) or indexes (0,1; one: device=1); 0: none
  versions <model> [--json]
  rollback <model> <version> [--json]        --json: one JSON object per event line
  alias set <model> <alias> <version>
  stop <model> <version> | start <model> <version>
  logs -f <model> [--version N] [--server NAME] [--tail 100] [--since ISO]   follow every replica, merged
  audit [--verify] [--actor WHO] [--action WHAT] [--since ISO] [--limit N] [--json]
${pagesUsage}
  version

A key with a passphrase: set BERTH_SSH_KEY_PASSPHRASE.
Data folder: $BERTH_HOME (default: the platform config folder Berth, e.g. ~/.config/Berth), shared with the app.
Exit codes: 0 done, 1 the operation failed (error[Kind]: message on stderr; also a value the contract refuses),
  2 usage (unknown command, option or setting; missing or malformed argument), 3 a host key must be accepted,
  130/143 interrupted by SIGINT/SIGTERM.`;

/** A signal stopped the command; `code` is what shells report for it (128 + the signal's number). */
class Interrupted extends Error {
  constructor(
    readonly code: number,
    message: string,
  ) {
    super(message);
  }
}
const EXIT = { ok: 0, failed: 1, usage: 2, hostKey: 3 } as const;
const SIGNAL_EXIT = { SIGINT: 130, SIGTERM: 143 } as const;
/** How long an interrupted stream may take to clean up (remove the smoke container, undo a deploy). */
const CLEANUP_WAIT_MS = 30_000;

function parse(argv: string[]) {
  return parseArgs({
    args: argv,
    allowPositionals: true,
    options: {
      name: { type: 'string' },
      host: { type: 'string' },
      port: { type: 'string' },
      user: { type: 'string' },
      key: { type: 'string' },
      agent: { type: 'boolean' },
      'accept-host-key': { type: 'string' },
      replicas: { type: 'string' },
      tls: { type: 'string' },
      listen: { type: 'string' },
      'new-authority': { type: 'boolean' },
      group: { type: 'string' },
      build: { type: 'string' },
      memory: { type: 'string' },
      gpus: { type: 'string' },
      'build-on': { type: 'string' },
      target: { type: 'string' },
      message: { type: 'string' },
      'break-lock': { type: 'boolean' },
      force: { type: 'boolean' },
      entrypoint: { type: 'string' },
      'no-smoke': { type: 'boolean' },
      json: { type: 'boolean' },
      follow: { type: 'boolean', short: 'f' },
      version: { type: 'string' },
      server: { type: 'string' },
      tail: { type: 'string' },
      since: { type: 'string' },
      help: { type: 'boolean', short: 'h' },
    },
  });
}

type Args = ReturnType<typeof parse>;

function need(value: string | undefined, what: string): string {
  if (!value) throw new UsageError(`Missing ${what}`);
  return value;
}
/** A value the schema accepts (an enum of words), else a usage error naming the choices. */
function choice<T extends string>(value: string | undefined, schema: z.ZodEnum<{ [K in T]: K }>, what: string): T {
  const parsed = schema.safeParse(need(value, what));
  if (!parsed.success) throw new UsageError(`${what} is one of ${schema.options.join(', ')}, not "${value}"`);
  return parsed.data as T;
}
const int = (value: string | undefined, what: string) => {
  const n = Number(need(value, what));
  if (!Number.isInteger(n)) throw new UsageError(`${what} must be a whole number`);
  return n;
};

/** Calls the contract exactly as the UI does; a failed result becomes a thrown BerthError. */
async function call<N extends CallName>(berth: Berth, name: N, input: unknown): Promise<CallOutput<N>> {
  const result = await berth.dispatcher.call(name, input);
  if (!result.ok) throw BerthError.from(result.error);
  return result.value as CallOutput<N>;
}

/**
 * Follows a stream to its end, printing each event; rejects with the stream's error. SIGINT or SIGTERM cancels
 * it and waits, bounded, for its cleanup, then rejects with Interrupted; a second signal quits at once.
 */
function follow(berth: Berth, name: StreamName, input: unknown, print: (event: any) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const cancel = berth.dispatcher.subscribe(name, input, print, (error) => {
      stopListening();
      if (error) reject(error);
      else resolve();
    });
    const onSignal = (signal: keyof typeof SIGNAL_EXIT) => {
      stopListening();
      console.error(`${signal}: cancelling ${name} and cleaning up (up to ${CLEANUP_WAIT_MS / 1000} s; send it again to quit at once) …`);
      void settledWithin(cancel(), CLEANUP_WAIT_MS).then((clean) => {
        const outcome = clean ? 'cancelled and cleaned up' : `cancelled, but its cleanup did not finish within ${CLEANUP_WAIT_MS / 1000} s`;
        reject(new Interrupted(SIGNAL_EXIT[signal], `${signal}: ${name} was ${outcome}`));
      });
    };
    const onSigint = () => onSignal('SIGINT');
    const onSigterm = () => onSignal('SIGTERM');
    process.once('SIGINT', onSigint);
    process.once('SIGTERM', onSigterm);
    function stopListening() {
      process.off('SIGINT', onSigint);
      process.off('SIGTERM', onSigterm);
    }
  });
}

/** Whether `promise` settled within `ms`. */
function settledWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<boolean>((resolve) => (timer = setTimeout(resolve, ms, false)));
  return Promise.race([promise.then(() => true, () => true), late]).finally(() => clearTimeout(timer));
}

async function serverId(berth: Berth, name: string): Promise<number> {
  const server = (await call(berth, 'servers.list', {})).find((s) => s.name === name);
  if (!server) throw new BerthError('NotFound', `No server named "${name}" (see \`berth servers list\`)`);
  return server.id;
}

function printBuildEvent(event: StreamEvent<'build.run'>): void {
  if (event.type === 'log') process.stdout.write(event.line.endsWith('\n') ? event.line : `${event.line}\n`);
  else if (event.type === 'result') console.log(`Built ${event.imageTag} (build #${event.buildId})`);
  else if (event.type === 'smoke' && event.result.status === 'passed') console.log(`Smoke test passed: the image answers like the notebook (${event.result.durationMs} ms)`);
}

/** Builds and smoke-tests; with --json each build event is one line `{"type":"build","event":…}`, as deploy's are. */
/** `platform`: the target group's (a deploy builds for it); absent, the engine's own. */
async function build(berth: Berth, path: string, args: Args, platform?: string, on?: BuildPlace): Promise<number> {
  let buildId: number | undefined;
  let smokeError: string | undefined;
  await follow(berth, 'build.run', { path, smoke: !args.values['no-smoke'], options: args.values.entrypoint ? { entrypoint: args.values.entrypoint } : undefined, platform, ...(on ? { on } : {}) }, (event) => {
    if (event.type === 'result') buildId = event.buildId;
    if (event.type === 'smoke' && event.result.status !== 'passed') {
      smokeError = `Smoke test ${event.result.status}: ${event.result.reason}${'logTail' in event.result && event.result.logTail ? `\n${event.result.logTail}` : ''}`;
    }
    if (args.values.json) console.log(JSON.stringify({ type: 'build', event }));
    else printBuildEvent(event);
  });
  if (smokeError) throw new BerthError('SmokeTestFailed', smokeError);
  if (buildId === undefined) throw new BerthError('BuildFailed', 'The build ended without an image');
  return buildId;
}

/** A deploy's build: for the group's platform, here or on a server of the group (`--build-on`, else the setting). */
async function buildForGroup(berth: Berth, path: string, args: Args, group: string): Promise<number> {
  const caller: Call = (name, input) => call(berth, name, input);
  const platform = (await buildPlatformFor(caller, group)) ?? undefined;
  const flag = args.values['build-on'] === undefined ? undefined : choice(args.values['build-on'], BuildOn, '--build-on');
  return build(berth, path, args, platform, await buildPlaceFor(caller, group, flag, platform ?? null));
}

/** A key's passphrase comes from the environment, never from the command line (where `ps` and shell history see it). */
const keyPassphrase = () => process.env.BERTH_SSH_KEY_PASSPHRASE || undefined;

/** Writes berth.toml and .berth/ from what this Berth knows; an existing berth.toml is only replaced with --force (its diff is shown). */
async function init(berth: Berth, projectPath: string, group: string, force: boolean): Promise<string> {
  const { file, reviewed } = await describeDeployment(projectPath, group, {
    groups: () => call(berth, 'groups.list', {}),
    servers: () => call(berth, 'servers.list', {}),
    settings: () => call(berth, 'settings.get', {}),
    prepare: (path) => call(berth, 'build.prepare', { path }),
  });
  const target = join(projectRoot(projectPath), PROJECT_FILE);
  const text = renderProjectFile(file);
  const before = existsSync(target) ? readFileSync(target, 'utf8') : null;
  if (before !== null && before !== text && !force) {
    throw new BerthError('Conflict', `${target} exists and differs from what Berth would write; re-run with --force to replace it:\n${createPatch(PROJECT_FILE, before, text)}`);
  }
  writeFileSync(target, text);
  await call(berth, 'build.saveEdits', { path: projectPath, ...reviewed });
  return `Wrote ${target} and ${REVIEWED_DIR}/ (Dockerfile, requirements.txt): commit them with the notebook; \`berth deploy\` deploys from them.`;
}

/** `--target local`: this computer (registered on first use), whatever berth.toml names; else berth.toml's group or --group. */
async function groupToDeployTo(berth: Berth, projectFile: ProjectFile | null, args: Args): Promise<string> {
  const target = args.values.target;
  if (target !== undefined) {
    if (target !== 'local') throw new UsageError(`--target takes "local" (this computer), not "${target}": for servers, use berth.toml or --group`);
    if (args.values.group) throw new UsageError('Give --target local or --group, not both');
    return (await call(berth, 'servers.addLocal', {})).group.name;
  }
  return projectFile ? groupOfProject(berth, projectFile, args) : need(args.values.group, '--group, --target local, or a project with a berth.toml');
}

/** Registers berth.toml's servers and group here (a fresh runner has none); an explicit --group must agree with it. */
async function groupOfProject(berth: Berth, file: ProjectFile, args: Args): Promise<string> {
  const flag = args.values.group;
  if (flag && flag !== file.group.name) throw new UsageError(`--group ${flag} differs from berth.toml's group ${file.group.name}: leave --group out, or change berth.toml`);
  const log = (message: string) => console.log(args.values.json ? JSON.stringify({ type: 'log', message }) : message);
  return applyProjectFile(file, (name, input) => call(berth, name, input), pipelineCredentials(process.env), log);
}

async function run(argv: string[]): Promise<number> {
  // status, keys, members, settings and `logs requests` parse their own options (cli-pages.ts).
  const page = pageCommand(argv);
  if (page) return page(() => createBerth({ home: resolveHome(), mode: 'cli', version }));
  // `berth audit` has its own options (services/access/audit/cli.ts).
  if (argv[0] === 'audit') {
    const berth = createBerth({ home: resolveHome(), mode: 'cli', version });
    try {
      await berth.ready;
      const { output, code } = await auditCommand(berth.services.audit, argv.slice(1));
      console.log(output);
      return code;
    } finally {
      berth.close();
    }
  }
  const args = parse(argv);
  const [command, sub, ...rest] = args.positionals;
  if (!command || args.values.help) return console.log(usage), command ? EXIT.ok : EXIT.usage;
  if (command === 'version') return console.log(version), EXIT.ok;

  // berth.toml is checked before Berth opens its data folder, so a bad file touches no server.
  const projectFile = command === 'deploy' && !args.values.build ? await readProjectFile(sub ?? '.') : null;
  const berth = createBerth({ home: resolveHome(), mode: 'cli', version });
  const out = (value: unknown, text: () => void) => (args.values.json ? console.log(JSON.stringify(value, null, 2)) : text());
  try {
    // Every command starts from what the servers hold now, not from what this data folder last saw.
    await berth.ready;
    switch (`${command} ${sub ?? ''}`.trim()) {
      case 'engine': {
        const info = await call(berth, 'engine.info', {});
        console.log(`Docker ${info.version} (API ${info.apiVersion}) ${info.os}/${info.arch} at ${info.socket}`);
        break;
      }
      case `open ${sub}`:
        console.log((await call(berth, 'projects.open', { path: need(sub, 'a path') })).path);
        break;
      case 'servers list': {
        const servers = await call(berth, 'servers.list', {});
        out(servers, () => servers.forEach((s) => console.log(`${s.name}\t${s.username}@${s.host}:${s.port}\t${s.hostKeyFingerprint}\t${s.groups.join(',')}`)));
        break;
      }
      case 'servers add': {
        const host = need(args.values.host, '--host');
        const port = args.values.port ? int(args.values.port, '--port') : 22;
        const accepted = args.values['accept-host-key'];
        if (!accepted) {
          const key = await call(berth, 'servers.probeHostKey', { host, port });
          console.error(`${host}:${port} presents ${key.keyType} key ${key.fingerprint}.\nCompare it with the server's, then re-run with --accept-host-key ${key.fingerprint}`);
          return EXIT.hostKey;
        }
        const server = await call(berth, 'servers.add', {
          name: need(args.values.name, '--name'),
          host,
          port,
          username: args.values.user ?? 'root',
          auth: args.values.agent ? { type: 'agent' } : { type: 'keyFile', path: need(args.values.key, '--key or --agent'), passphrase: keyPassphrase() },
          hostKeyFingerprint: accepted,
        });
        console.log(`Added ${server.name}: Docker ${server.facts?.engineVersion}, ${server.facts?.cpus} CPUs`);
        break;
      }
      case 'servers switch-key': {
        const ids = await Promise.all(rest.map((name) => serverId(berth, name)));
        if (!ids.length) throw new UsageError('Missing a server name');
        const switched = await call(berth, 'servers.switchKey', { serverIds: ids, auth: { type: 'keyFile', path: need(args.values.key, '--key'), passphrase: keyPassphrase() } });
        out(switched, () => console.log(switched.message));
        break;
      }
      case `servers test`: {
        const server = await call(berth, 'servers.test', { id: await serverId(berth, need(rest[0], 'a server name')) });
        out(server, () => console.log(server.state === 'up' ? `${server.name} is up: Docker ${server.facts?.engineVersion}` : `${server.name} is down: ${server.lastError}`));
        return server.state === 'up' ? EXIT.ok : EXIT.failed;
      }
      case 'servers remove':
        await call(berth, 'servers.remove', { id: await serverId(berth, need(rest[0], 'a server name')) });
        break;
      case 'servers forget': {
        const forgotten = await call(berth, 'servers.forget', { id: await serverId(berth, need(rest[0], 'a server name')) });
        out(forgotten, () => console.log(forgotten.report.join('\n')));
        break;
      }
      case 'groups list': {
        const [groups, servers] = await Promise.all([call(berth, 'groups.list', {}), call(berth, 'servers.list', {})]);
        const names = new Map(servers.map((s) => [s.id, s.name]));
        out(groups, () =>
          groups.forEach((g) =>
            console.log(
              `${g.name}\treplicas=${g.replicas}\t${g.serverIds.map((id) => names.get(id)).join(',')}\trevision=${g.revision ?? 'unpublished'}${g.changedBy ? ` by ${g.changedBy}` : ''}\ttls=${g.tls}\tlisten=${g.listen}`,
            ),
          ),
        );
        break;
      }
      case 'groups create':
        await call(berth, 'groups.create', {
          name: need(rest[0], 'a group name'),
          replicas: args.values.replicas ? int(args.values.replicas, '--replicas') : undefined,
          tls: args.values.tls === undefined ? undefined : choice(args.values.tls, TlsMode, '--tls'),
          listen: args.values.listen === undefined ? undefined : choice(args.values.listen, ListenMode, '--listen'),
        });
        break;
      case 'groups tls': {
        const group = await call(berth, 'groups.setTls', { name: need(rest[0], 'a group name'), tls: choice(rest[1], TlsMode, 'the mode'), newAuthority: args.values['new-authority'] ?? false });
        console.log(group.tls === 'https' ? `Group ${group.name} serves HTTPS only; clients trust its CA (\`berth groups ca ${group.name}\`).` : plainHttpWarning(group.name));
        break;
      }
      case 'groups listen': {
        const group = await call(berth, 'groups.setListen', { name: need(rest[0], 'a group name'), listen: choice(rest[1], ListenMode, 'where to listen') });
        console.log(`Group ${group.name}'s gateways listen on ${group.listen === 'host' ? "their server's address (and loopback) only" : 'every interface'}.`);
        break;
      }
      case 'groups ca':
        process.stdout.write((await call(berth, 'groups.authority', { name: need(rest[0], 'a group name') })).certificate);
        break;
      case 'groups set': {
        const group = (await call(berth, 'groups.list', {})).find((g) => g.name === rest[0]);
        if (!group) throw new BerthError('NotFound', `No group named "${rest[0]}"`);
        const ids = await Promise.all(rest.slice(1).map((name) => serverId(berth, name)));
        await call(berth, 'groups.update', { id: group.id, serverIds: ids });
        break;
      }
      case 'groups delete': {
        const group = (await call(berth, 'groups.list', {})).find((g) => g.name === rest[0]);
        if (!group) throw new BerthError('NotFound', `No group named "${rest[0]}"`);
        await call(berth, 'groups.remove', { id: group.id });
        break;
      }
      case `init ${sub ?? ''}`.trim():
        console.log(await init(berth, sub ?? '.', need(args.values.group, '--group'), args.values.force ?? false));
        break;
      case `build ${sub}`:
        await build(berth, need(sub, 'a project path'), args);
        break;
      case `deploy ${sub ?? ''}`.trim(): {
        const group = await groupToDeployTo(berth, projectFile, args);
        const buildId = args.values.build
          ? int(args.values.build, '--build')
          : await buildForGroup(berth, projectFile ? (sub ?? '.') : need(sub, '--build ID or a project path'), args, group);
        await follow(
          berth,
          'deploy.run',
          {
            buildId,
            group,
            replicas: projectFile?.replicas,
            memoryMb: args.values.memory ? int(args.values.memory, '--memory') : projectFile?.memory_mb,
            cpus: projectFile?.cpus,
            gpus: args.values.gpus !== undefined ? gpusOption(args.values.gpus) : projectFile ? gpuRequestOf(projectFile.gpus) : undefined,
            readyTimeoutMs: projectFile ? projectFile.readiness_timeout_s * 1000 : undefined,
            message: args.values.message,
            breakLock: args.values['break-lock'] ?? false,
          },
          deployEventPrinter(args.values.json ?? false, consoleIo),
        );
        break;
      }
      case `versions ${sub}`: {
        const model = await call(berth, 'deploy.model', { model: need(sub, 'a model name') });
        out(model, () =>
          model.versions.forEach((v) =>
            console.log(`v${v.number}\t${v.state}\t${v.aliases.join(',') || '-'}\t${v.createdBy}\t${v.createdAt}\t${v.imageRef}${v.message ? `\t${v.message}` : ''}`),
          ),
        );
        break;
      }
      case `rollback ${sub}`:
        await follow(berth, 'deploy.rollback', { model: need(sub, 'a model name'), version: int(rest[0], 'a version number') }, deployEventPrinter(args.values.json ?? false, consoleIo));
        break;
      case 'alias set':
        await call(berth, 'deploy.setAlias', { model: need(rest[0], 'a model'), alias: need(rest[1], 'an alias'), version: int(rest[2], 'a version number') });
        console.log(`${rest[0]} ${rest[1]} → v${rest[2]}`);
        break;
      case `stop ${sub}`:
      case `start ${sub}`:
        await call(berth, command === 'stop' ? 'deploy.stopVersion' : 'deploy.startVersion', { model: need(sub, 'a model'), version: int(rest[0], 'a version number') });
        break;
      case `logs ${sub}`: {
        if (!args.values.follow) throw new UsageError('berth logs follows live output: use `berth logs -f <model>`');
        // Interrupting is how a follow ends: the remote `docker logs -f` is stopped first, then the signal's exit code.
        const stop = new AbortController();
        let interrupted: keyof typeof SIGNAL_EXIT | undefined;
        for (const signal of ['SIGINT', 'SIGTERM'] as const) process.once(signal, () => ((interrupted = signal), stop.abort()));
        await followLogsForCli(
          berth.services.observability.logs,
          berth.services.registry.list(),
          {
            model: need(sub, 'a model name'),
            version: args.values.version ? int(args.values.version, '--version') : undefined,
            server: args.values.server,
            tail: args.values.tail ? int(args.values.tail, '--tail') : undefined,
            since: args.values.since,
            color: process.stdout.isTTY,
          },
          (text) => process.stdout.write(text),
          (text) => process.stderr.write(`${text}\n`),
          stop.signal,
        );
        if (interrupted) return SIGNAL_EXIT[interrupted];
        break;
      }
      default:
        throw new UsageError(`Unknown command "${args.positionals.join(' ')}"`);
    }
    return EXIT.ok;
  } finally {
    berth.close();
  }
}

// run() always ends in process.exit: reaching beforeExit means a command's pending work held nothing on the event
// loop (a promise nothing will settle). The command did not finish, so this must never look like success.
process.once('beforeExit', () => {
  console.error('error[Internal]: berth stopped before the command finished (its pending work had nothing left to wait for); the rest of it was not done');
  process.exit(EXIT.failed);
});

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof Interrupted) {
      console.error(err.message);
      process.exit(err.code);
    }
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`${(err as Error).message}\n\n${usage}`);
      process.exit(EXIT.usage);
    }
    const error = BerthError.from(err);
    console.error(`error[${error.kind}]: ${error.message}`);
    process.exit(error.kind === 'ProjectFileInvalid' ? EXIT.usage : EXIT.failed);
  },
);
