/**
 * The CLI's commands for the app's pages (status, keys, members, settings, request logs). Each parses its own
 * options, so electron/main/cli.ts hands them the whole argv before its own parse; each parses before Berth opens,
 * so a usage error (exit 2) never waits for the servers.
 */
import type { Berth } from './app';
import { contractCaller, consoleIo, type Call, type CliIo } from './rpc/cli-kit';
import { keysCommand, keysUsage, membersCommand, membersUsage } from './services/access/cli';
import { statusCommand, statusUsage } from './services/deploy/cli';
import { requestsCommand, requestsUsage } from './services/logs/requests-cli';
import { settingsCommand, settingsUsage } from './services/store/settings-cli';

type Run = (call: Call, io: CliIo) => Promise<number>;

const pages: Record<string, { usage: string; parse: (argv: string[]) => Run }> = {
  status: { usage: statusUsage, parse: statusCommand },
  keys: { usage: keysUsage, parse: keysCommand },
  members: { usage: membersUsage, parse: membersCommand },
  settings: { usage: settingsUsage, parse: settingsCommand },
  'logs requests': { usage: requestsUsage, parse: requestsCommand },
};

/** The usage lines cli.ts lists (without the leading "berth "). */
export const pagesUsage = Object.values(pages)
  .flatMap((p) => p.usage.split('\n'))
  .map((line) => `  ${line.trim().replace(/^berth /, '')}`)
  .join('\n');

/**
 * The page command argv names, parsed (throws UsageError), ready to run on a Berth that `open` makes; null when
 * argv is another command. `berth logs -f` stays cli.ts's: only `logs requests` is a page command.
 */
export function pageCommand(argv: string[]): ((open: () => Berth) => Promise<number>) | null {
  const name = argv[0] === 'logs' && argv[1] === 'requests' ? 'logs requests' : argv[0];
  const page = Object.hasOwn(pages, name) ? pages[name] : undefined;
  if (!page) return null;
  const rest = argv.slice(name.split(' ').length);
  if (rest.includes('--help') || rest.includes('-h')) return async () => (consoleIo.out(`Usage: ${page.usage}`), 0);
  const run = page.parse(rest);
  return async (open) => {
    const berth = open();
    try {
      // Every command starts from what the servers hold now, as cli.ts's do.
      await berth.ready;
      return await run(contractCaller(berth.dispatcher), consoleIo);
    } finally {
      berth.close();
    }
  };
}
