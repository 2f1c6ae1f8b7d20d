import { describe, expect, it } from 'vitest';
import { createDispatcher, type CallHandlers, type StreamHandlers } from '../../../electron/main/rpc/dispatcher';
import { contractCaller } from '../../../electron/main/rpc/cli-kit';
import { settingsCommand } from '../../../electron/main/services/store/settings-cli';
import { createSettingsRepo } from '../../../electron/main/services/store/settings';
import { openDatabase } from '../../../electron/main/services/store/database';

/** The command against the real contract and settings repo, so the value is checked as the Settings page's is. */
function cli() {
  const settings = createSettingsRepo(openDatabase(':memory:'));
  const calls = { 'settings.get': () => settings.get(), 'settings.update': (patch) => settings.update(patch) } as Partial<CallHandlers> as CallHandlers;
  const call = contractCaller(createDispatcher(calls, {} as StreamHandlers));
  const out: string[] = [];
  const run = (...argv: string[]) => settingsCommand(argv)(call, { out: (t) => out.push(t), err: (t) => out.push(t) });
  return { settings, out, run };
}

describe('berth settings', () => {
  it('sets the inference retention settings as numbers', async () => {
    const { settings, out, run } = cli();
    expect(await run('set', 'inferenceRetentionDays', '7')).toBe(0);
    expect(await run('set', 'inferenceMaxRows', '250000')).toBe(0);
    expect(settings.get()).toMatchObject({ inferenceRetentionDays: 7, inferenceMaxRows: 250_000 });
    expect(out).toEqual(['inferenceRetentionDays\t7', 'inferenceMaxRows\t250000']);
    await run('get', 'inferenceRetentionDays');
    expect(out.at(-1)).toBe('7');
  });

  it('refuses a value the settings schema refuses', async () => {
    const { settings, run } = cli();
    await expect(run('set', 'inferenceRetentionDays', 'a week')).rejects.toMatchObject({ kind: 'ValidationError' });
    await expect(run('set', 'inferenceMaxRows', '10')).rejects.toMatchObject({ kind: 'ValidationError' });
    expect(settings.get()).toMatchObject({ inferenceRetentionDays: 30, inferenceMaxRows: 1_000_000 });
  });
});
