import { homedir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { resolveHome } from '../../electron/main/app';

describe('one default data folder for the app, web mode and the CLI', () => {
  it('is BERTH_HOME if set, else the platform’s config folder named Berth (what Electron’s userData is)', () => {
    expect(resolveHome({ BERTH_HOME: '/data/b' }, 'linux')).toBe('/data/b');
    expect(resolveHome({}, 'linux')).toBe(join(homedir(), '.config', 'Berth'));
    expect(resolveHome({ XDG_CONFIG_HOME: '/x' }, 'linux')).toBe('/x/Berth');
    expect(resolveHome({}, 'darwin')).toBe(join(homedir(), 'Library', 'Application Support', 'Berth'));
    expect(resolveHome({ APPDATA: 'C:/Users/a/AppData/Roaming' }, 'win32')).toBe(join('C:/Users/a/AppData/Roaming', 'Berth'));
  });
});
