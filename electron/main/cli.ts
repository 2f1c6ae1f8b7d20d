/**
 * `berth`: the command line over the same contract and services the app uses, for scripts and CI/CD pipelines.
 * Exit codes: 0 done, 1 the operation failed (message on stderr), 2 usage error, 3 a host key must be accepted.
 */
import { parseArgs } from 'node:util';
import type { CallName, CallOutput, StreamName } from '../../shared/contract';
import { BerthError } from '../../shared/errors';
import { createBerth, resolveHome, type Berth } from './app';
import { auditCommand } from './services/access/audit/cli';
import { followLogsForCli } from './services/logs/cli';
import { version } from '../../package.json';

const usage = `Usage: berth <command> [options]

  engine                                   the local Docker engine Berth builds with
  open <path>                              remember a project folder or .ipynb
  servers list
  servers add --name N --host H [--port 22] [--user root] (--key FILE | --agent) [--accept-host-key SHA256:...]
  servers test <name>
  servers remove <name>
  groups list
  groups create <name> [--replicas 2]
  groups set <name> <server>...            make these servers the group's members
  groups delete <name>
  build <path> [--entrypoint FN] [--no-smoke]
  deploy --group G (--build ID | <path>) [--memory MiB] [--message TEXT] [--break-lock]
  versions <model> [--json]
  rollback <model> <version>
  alias set <model> <alias> <version>
  stop <model> <version> | start <model> <version>
  logs -f <model> [--version N] [--server NAME] [--tail 100] [--since ISO]   follow every replica, merged
  audit [--verify] [--actor WHO] [--action WHAT] [--since ISO] [--limit N] [--json]
  version

Data folder: $BERTH_HOME (default ~/.config/Berth).`;

class UsageError extends Error {}
const EXIT = { ok: 0, failed: 1, usage: 2, hostKey: 3 } as const;

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
      group: { type: 'string' },
      build: { type: 'string' },
      memory: { type: 'string' },
      message: { type: 'string' },
      'break-lock': { type: 'boolean' },
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

/** Follows a stream to its end, printing each event; rejects with the stream's error. */
function follow(berth: Berth, name: StreamName, input: unknown, print: (event: any) => void): Promise<void> {
  return new Promise((resolve, reject) => {
    const cancel = berth.dispatcher.subscribe(name, input, print, (error) => (error ? reject(error) : resolve()));
    process.once('SIGINT', () => {
      cancel();
      reject(new BerthError('Cancelled', 'Interrupted'));
    });
  });
}

const printDeployEvent = (event: any) => {
  if (event.type === 'progress') console.log(`[${event.server}] ${event.phase}: ${event.message}`);
  else if (event.type === 'log') console.log(event.message);
  else if (event.type === 'done') console.log(`${event.model} v${event.version} is live (${(event.durationMs / 1000).toFixed(1)} s)`);
};

async function serverId(berth: Berth, name: string): Promise<number> {
  const server = (await call(berth, 'servers.list', {})).find((s) => s.name === name);
  if (!server) throw new BerthError('NotFound', `No server named "${name}" (see \`berth servers list\`)`);
  return server.id;
}

async function build(berth: Berth, path: string, args: Args): Promise<number> {
  let buildId: number | undefined;
  let smokeError: string | undefined;
  await follow(berth, 'build.run', { path, smoke: !args.values['no-smoke'], options: args.values.entrypoint ? { entrypoint: args.values.entrypoint } : undefined }, (event) => {
    if (event.type === 'log') process.stdout.write(event.line.endsWith('\n') ? event.line : `${event.line}\n`);
    else if (event.type === 'result') {
      buildId = event.buildId;
      console.log(`Built ${event.imageTag} (build #${event.buildId})`);
    } else if (event.type === 'smoke') {
      if (event.result.status === 'passed') console.log(`Smoke test passed: the image answers like the notebook (${event.result.durationMs} ms)`);
      else smokeError = `Smoke test ${event.result.status}: ${event.result.reason}${event.result.logTail ? `\n${event.result.logTail}` : ''}`;
    }
  });
  if (smokeError) throw new BerthError('SmokeTestFailed', smokeError);
  if (buildId === undefined) throw new BerthError('BuildFailed', 'The build ended without an image');
  return buildId;
}

async function run(argv: string[]): Promise<number> {
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
          auth: args.values.agent ? { type: 'agent' } : { type: 'keyFile', path: need(args.values.key, '--key or --agent') },
          hostKeyFingerprint: accepted,
        });
        console.log(`Added ${server.name}: Docker ${server.facts?.engineVersion}, ${server.facts?.cpus} CPUs`);
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
      case 'groups list': {
        const [groups, servers] = await Promise.all([call(berth, 'groups.list', {}), call(berth, 'servers.list', {})]);
        const names = new Map(servers.map((s) => [s.id, s.name]));
        out(groups, () =>
          groups.forEach((g) =>
            console.log(`${g.name}\treplicas=${g.replicas}\t${g.serverIds.map((id) => names.get(id)).join(',')}\trevision=${g.revision ?? 'unpublished'}${g.changedBy ? ` by ${g.changedBy}` : ''}`),
          ),
        );
        break;
      }
      case 'groups create':
        await call(berth, 'groups.create', { name: need(rest[0], 'a group name'), replicas: args.values.replicas ? int(args.values.replicas, '--replicas') : undefined });
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
      case `build ${sub}`:
        await build(berth, need(sub, 'a project path'), args);
        break;
      case `deploy ${sub ?? ''}`.trim(): {
        const buildId = args.values.build ? int(args.values.build, '--build') : await build(berth, need(sub, '--build ID or a project path'), args);
        await follow(
          berth,
          'deploy.run',
          {
            buildId,
            group: need(args.values.group, '--group'),
            memoryMb: args.values.memory ? int(args.values.memory, '--memory') : undefined,
            message: args.values.message,
            breakLock: args.values['break-lock'] ?? false,
          },
          printDeployEvent,
        );
        break;
      }
      case `versions ${sub}`: {
        const model = await call(berth, 'deploy.model', { model: need(sub, 'a model name') });
        out(model, () =>
          model.versions.forEach((v) =>
            console.log(`v${v.number}\t${v.state}\t${v.aliases.join(',') || '-'}\t${v.createdBy}\t${v.createdAt}\t${v.imageRef}`),
          ),
        );
        break;
      }
      case `rollback ${sub}`:
        await follow(berth, 'deploy.rollback', { model: need(sub, 'a model name'), version: int(rest[0], 'a version number') }, printDeployEvent);
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
        const stop = new AbortController();
        process.once('SIGINT', () => stop.abort());
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

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    if (err instanceof UsageError || (err as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      console.error(`${(err as Error).message}\n\n${usage}`);
      process.exit(EXIT.usage);
    }
    const error = BerthError.from(err);
    console.error(`error[${error.kind}]: ${error.message}`);
    process.exit(EXIT.failed);
  },
);
