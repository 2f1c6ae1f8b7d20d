/** `berth`: the command line over the same services the app uses, for scripts and CI/CD pipelines. */
import { createBerth, resolveHome } from './app';
import { BerthError } from '../../shared/errors';
import { version } from '../../package.json';

const usage = `Usage: berth <command>

Commands:
  engine            Show the local Docker engine Berth builds with
  projects          List recently opened projects
  open <path>       Open a project folder or .ipynb and remember it
  version           Print Berth's version`;

async function run(argv: string[]): Promise<number> {
  const [command, ...args] = argv;
  if (command === 'version') return console.log(version), 0;
  if (!command || command === 'help' || command === '--help') return console.log(usage), command ? 0 : 2;
  const berth = createBerth({ home: resolveHome(), mode: 'cli', version });
  try {
    switch (command) {
      case 'engine': {
        const info = await berth.services.engine.info();
        console.log(`Docker ${info.version} (API ${info.apiVersion}) ${info.os}/${info.arch} at ${info.socket}`);
        return 0;
      }
      case 'projects':
        for (const p of berth.services.projects.recent()) console.log(`${p.id}\t${p.name}\t${p.path}`);
        return 0;
      case 'open':
        if (!args[0]) throw new BerthError('ValidationError', 'berth open needs a path');
        console.log((await berth.services.projects.open(args[0])).path);
        return 0;
      default:
        console.error(`Unknown command "${command}"\n\n${usage}`);
        return 2;
    }
  } finally {
    berth.close();
  }
}

run(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (err) => {
    const error = BerthError.from(err);
    console.error(`${error.kind}: ${error.message}`);
    process.exit(1);
  },
);
