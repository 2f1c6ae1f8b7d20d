import { spawn } from 'node:child_process';
import { existsSync, mkdtempSync, writeFileSync } from 'node:fs';
import { homedir, tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { createInterface } from 'node:readline';
import { describe, expect, it } from 'vitest';
import { resolveHome } from '../../electron/main/app';
import { claimDataFolder, folderOwner, sharedFolderNote } from '../../electron/main/services/store/folder-owner';

describe('one default data folder for the app, web mode and the CLI', () => {
  it('is BERTH_HOME if set, else the platform’s config folder named Berth (what Electron’s userData is)', () => {
    expect(resolveHome({ BERTH_HOME: '/data/b' }, 'linux')).toBe('/data/b');
    expect(resolveHome({}, 'linux')).toBe(join(homedir(), '.config', 'Berth'));
    expect(resolveHome({ XDG_CONFIG_HOME: '/x' }, 'linux')).toBe('/x/Berth');
    expect(resolveHome({}, 'darwin')).toBe(join(homedir(), 'Library', 'Application Support', 'Berth'));
    expect(resolveHome({ APPDATA: 'C:/Users/a/AppData/Roaming' }, 'win32')).toBe(join('C:/Users/a/AppData/Roaming', 'Berth'));
  });
});

describe('one app or web mode per data folder', () => {
  const repoRoot = resolve(__dirname, '../..');

  /** Web mode in another process: it claims the folder, says so, and keeps running. */
  async function webModeIn(home: string) {
    const script = `
      const { claimDataFolder } = require(${JSON.stringify(join(repoRoot, 'electron/main/services/store/folder-owner.ts'))});
      claimDataFolder(process.argv[1], 'web');
      console.log('claimed');
      setInterval(() => {}, 1000);
    `;
    const child = spawn(process.execPath, ['--require', 'tsx/cjs', '-e', script, home], { cwd: repoRoot, stdio: ['ignore', 'pipe', 'inherit'] });
    await new Promise((done, fail) => {
      createInterface({ input: child.stdout! }).once('line', done);
      child.once('exit', (code) => fail(new Error(`web mode exited with ${code}`)));
    });
    return child;
  }

  it('refuses a second app or web mode while the first lives, names it, and lets the CLI run alongside', async () => {
    const home = mkdtempSync(join(tmpdir(), 'berth-folder-'));
    const web = await webModeIn(home);
    try {
      expect(() => claimDataFolder(home, 'electron')).toThrow(
        expect.objectContaining({ kind: 'Conflict', message: expect.stringMatching(new RegExp(`^Berth web mode \\(pid ${web.pid}, since .+\\) already has the data folder ${home}: close it first`)) }),
      );
      expect(sharedFolderNote(home)).toMatch(new RegExp(`Berth web mode \\(pid ${web.pid}.*runs alongside it`));
    } finally {
      const exited = new Promise((done) => web.once('exit', done));
      web.kill('SIGKILL');
      await exited;
    }
    // Killed: its owner file stays behind, naming a process that is gone.
    expect(folderOwner(home)).toBeNull();
    expect(sharedFolderNote(home)).toBeNull();
    const release = claimDataFolder(home, 'electron');
    expect(folderOwner(home)).toMatchObject({ pid: process.pid, mode: 'electron' });
    release();
    expect(existsSync(join(home, 'owner.json'))).toBe(false);
  }, 60_000);

  it('takes over an owner file whose pid now belongs to a process that started later', () => {
    const home = mkdtempSync(join(tmpdir(), 'berth-folder-'));
    writeFileSync(join(home, 'owner.json'), JSON.stringify({ pid: process.pid, started: 'an earlier process', mode: 'web', since: '2020-01-01T00:00:00Z' }));
    const release = claimDataFolder(home, 'web');
    expect(folderOwner(home)).toMatchObject({ pid: process.pid, mode: 'web' });
    release();
  });
});
