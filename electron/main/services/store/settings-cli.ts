/**
 * `berth settings get|set` for the CLI (electron/main/cli.ts calls this through cli-pages.ts): the Settings page
 * over settings.get / settings.update.
 */
import { z } from 'zod';
import { Settings } from '../../../../shared/types';
import { json, parseCommand, positionals, UsageError, type Call, type CliIo } from '../../rpc/cli-kit';

export const settingsUsage = ['berth settings get [key] [--json]', 'berth settings set <key> <value>'].join('\n       ');

const keys = Object.keys(Settings.shape) as (keyof Settings)[];

/** A key the settings schema has; anything else is a usage error listing the keys there are. */
function settingKey(given: string): keyof Settings {
  if ((keys as string[]).includes(given)) return given as keyof Settings;
  throw new UsageError(`Unknown setting "${given}": the settings are ${keys.join(', ')}`);
}

/** What the command line gives is text; a numeric setting gets a number (not a number: the contract says so, exit 1). */
const settingValue = (key: keyof Settings, given: string): string | number => (Settings.shape[key] instanceof z.ZodNumber ? Number(given) : given);

/** Parses now, so a usage error never waits for the servers; the value itself is checked by the contract (exit 1). */
export function settingsCommand(argv: string[]): (call: Call, io: CliIo) => Promise<number> {
  const [sub, ...rest] = argv;
  if (sub === 'get') {
    const usage = 'berth settings get [key] [--json]';
    const { values, positionals: given } = parseCommand(rest, { json: { type: 'boolean' } }, usage);
    const [key] = positionals(given, ['[key]'], usage, 1).map(settingKey);
    return async (call, io) => {
      const settings = await call('settings.get', {});
      if (key) io.out(values.json ? JSON.stringify(settings[key]) : String(settings[key]));
      else io.out(values.json ? json(settings) : keys.map((k) => `${k}\t${settings[k]}`).join('\n'));
      return 0;
    };
  }
  if (sub === 'set') {
    const usage = 'berth settings set <key> <value>';
    const { positionals: given } = parseCommand(rest, {}, usage);
    const [key, value] = positionals(given, ['<key>', '<value>'], usage);
    const setting = settingKey(key);
    return async (call, io) => {
      const settings = await call('settings.update', { [setting]: settingValue(setting, value) });
      io.out(`${setting}\t${settings[setting]}`);
      return 0;
    };
  }
  throw new UsageError(`${sub ? `Unknown settings command "${sub}"` : 'Missing a settings command'}\nUsage: ${settingsUsage}`);
}
