/**
 * "Import from ~/.ssh/config" (issue 16, item 5): a missing file is said so, with its path, and another file can be
 * given. The service reads real files; the Servers store gets its answers through the real service.
 */
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it, vi } from 'vitest';
import { BerthError } from '../../../shared/errors';
import { importSshConfig } from '../../../electron/main/services/servers/ssh-config';

// os.homedir() is $HOME on Linux and macOS: the default path and `~` are this folder's
const home = mkdtempSync(path.join(os.tmpdir(), 'berth-ssh-config-'));
const realHome = process.env.HOME;
process.env.HOME = home;
afterAll(() => {
  process.env.HOME = realHome;
  rmSync(home, { recursive: true, force: true });
});

vi.mock('../../../renderer/src/api/client', () => ({
  call: vi.fn(async (name: string, input: { path?: string }) => {
    if (name !== 'servers.importSshConfig') throw new Error(`unexpected call ${name}`);
    // as the dispatcher does: a thrown BerthError reaches the renderer with its kind and message
    return importSshConfig(input.path).catch((err: BerthError) => Promise.reject(new BerthError(err.kind, err.message)));
  }),
  subscribe: vi.fn(),
}));
const { useServers } = await import('../../../renderer/src/features/servers/store');

const config = (file: string, text: string) => {
  mkdirSync(path.dirname(file), { recursive: true });
  writeFileSync(file, text);
};

describe('importing hosts from an SSH config file', () => {
  it('says there is no file at the default path, naming it, without the error banner', async () => {
    await expect(importSshConfig()).rejects.toMatchObject({
      kind: 'NotFound',
      message: `There is no SSH config file at ${path.join(home, '.ssh', 'config')}. Give the path of the one to import from.`,
    });
    await useServers.getState().importSshConfig();
    expect(useServers.getState()).toMatchObject({ imported: [], error: undefined, importNote: expect.stringContaining('There is no SSH config file at') });
  });

  it('reads the file the user gives, ~ included', async () => {
    config(path.join(home, 'work', 'ssh_config'), 'Host *\n  User deploy\nHost prod-1\n  HostName 10.0.0.5\n  Port 2222\n  IdentityFile ~/.ssh/prod\n');
    await useServers.getState().importSshConfig('~/work/ssh_config');
    expect(useServers.getState().imported).toEqual([{ alias: 'prod-1', host: '10.0.0.5', port: 2222, username: 'deploy', identityFile: path.join(home, '.ssh', 'prod') }]);
    expect(useServers.getState().importNote).toBeUndefined();
  });

  it('says when a file holds no concrete host, and when a path is not a readable file', async () => {
    config(path.join(home, 'only-defaults'), 'Host *\n  User deploy\n');
    await useServers.getState().importSshConfig(path.join(home, 'only-defaults'));
    expect(useServers.getState().importNote).toBe(`${path.join(home, 'only-defaults')} has no host to import (only wildcard sections such as Host *, or none).`);

    await useServers.getState().importSshConfig(home);
    expect(useServers.getState().error).toMatchObject({ kind: 'ValidationError', message: expect.stringContaining(`${home} could not be read as an SSH config file (EISDIR)`) });
  });
});
