import { describe, expect, it, vi } from 'vitest';
import { nativeBinding, openDatabase } from '../../../electron/main/services/store/database';

const sqlite = { dir: '/app/node_modules/better-sqlite3', version: '12.11.1' };

describe("better-sqlite3's addon for each runtime", () => {
  it('Node (CLI, web, tests) loads the package build and never looks further', () => {
    const lookup = vi.fn(() => sqlite);
    expect(nativeBinding({}, lookup)).toBeUndefined();
    expect(nativeBinding({ electron: undefined }, lookup)).toBeUndefined();
    expect(lookup).not.toHaveBeenCalled();
  });

  it("Electron loads the build made for its version and this package's, beside the package", () => {
    expect(nativeBinding({ electron: '39.8.10' }, () => sqlite)).toBe('/app/node_modules/.berth-native/better-sqlite3-12.11.1-electron-39.8.10/better_sqlite3.node');
  });

  it('this process (Node) opens a database with the package build', () => {
    expect(process.versions.electron).toBeUndefined();
    const db = openDatabase(':memory:');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    db.close();
  });
});
