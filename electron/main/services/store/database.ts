import Database from 'better-sqlite3';
import { mkdirSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { RESOURCES, resourcePath } from '../resources';
import { migrations } from './migrations';

export type Db = Database.Database;

export interface InstalledSqlite {
  /** The better-sqlite3 package folder. */
  dir: string;
  version: string;
}

/**
 * The better-sqlite3 addon this runtime loads. Node (CLI, web, tests) takes the package's own build (undefined);
 * a packaged app the one electron-builder rebuilt for Electron and unpacked from app.asar (services/resources.ts);
 * Electron in development the one `scripts/native-abi.mjs electron` builds beside the package, so neither ever
 * rebuilds the other away.
 */
export function nativeBinding(runtime: { electron?: string }, sqlite: () => InstalledSqlite): string | undefined {
  if (!runtime.electron) return undefined;
  const packaged = resourcePath('sqlite', RESOURCES.sqlite.probe);
  if (packaged) return packaged;
  const { dir, version } = sqlite();
  // Keep in step with scripts/native-abi.mjs.
  return join(dirname(dir), '.berth-native', `better-sqlite3-${version}-electron-${runtime.electron}`, 'better_sqlite3.node');
}

function installedSqlite(): InstalledSqlite {
  const require = createRequire(import.meta.url);
  return { dir: dirname(require.resolve('better-sqlite3/package.json')), version: require('better-sqlite3/package.json').version };
}

/** Opens (creating if needed) Berth's SQLite file with WAL, foreign keys, and every migration applied. */
export function openDatabase(file: string): Db {
  if (file !== ':memory:') mkdirSync(dirname(file), { recursive: true });
  const db = new Database(file, { nativeBinding: nativeBinding(process.versions, installedSqlite) });
  db.pragma('journal_mode = WAL');
  db.pragma('foreign_keys = ON');
  db.pragma('busy_timeout = 5000');
  migrate(db);
  return db;
}

/**
 * A read-only connection to a data folder's SQLite file that openDatabase has opened (WAL): readers never block the
 * writer, and see each transaction once it commits. The inference search worker keeps one.
 */
export function openReadonlyDatabase(file: string): Db {
  const db = new Database(file, { readonly: true, fileMustExist: true, nativeBinding: nativeBinding(process.versions, installedSqlite) });
  db.pragma('busy_timeout = 5000');
  return db;
}

/** Applies the migrations newer than `user_version`, each in its own transaction. */
export function migrate(db: Db): number {
  const current = db.pragma('user_version', { simple: true }) as number;
  for (const migration of migrations) {
    if (migration.version <= current) continue;
    db.transaction(() => {
      db.exec(migration.sql);
      db.pragma(`user_version = ${migration.version}`);
    })();
  }
  return db.pragma('user_version', { simple: true }) as number;
}
