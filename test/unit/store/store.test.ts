import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import Database from 'better-sqlite3';
import { describe, expect, it } from 'vitest';
import { migrate, openDatabase } from '../../../electron/main/services/store/database';
import { migrations } from '../../../electron/main/services/store/migrations';
import { createProjectsRepo } from '../../../electron/main/services/store/projects';
import { createSettingsRepo } from '../../../electron/main/services/store/settings';
import { defaultSettings } from '../../../shared/types';

const tempDb = () => join(mkdtempSync(join(tmpdir(), 'berth-store-')), 'berth.db');

describe('store', () => {
  it('applies every migration to a new file with WAL and foreign keys on', () => {
    const db = openDatabase(tempDb());
    expect(db.pragma('user_version', { simple: true })).toBe(migrations.at(-1)!.version);
    expect(db.pragma('journal_mode', { simple: true })).toBe('wal');
    expect(db.pragma('foreign_keys', { simple: true })).toBe(1);
    db.close();
  });

  it('numbers migrations strictly upward from 1', () => {
    migrations.forEach((m, i) => expect(m.version).toBe(i + 1));
  });

  it('is idempotent and only applies migrations newer than the file', () => {
    const file = tempDb();
    const raw = new Database(file);
    raw.exec(migrations[0].sql);
    raw.pragma('user_version = 1');
    raw.prepare("INSERT INTO projects (path, name, kind, opened_at) VALUES ('/p', 'p', 'folder', 't')").run();
    expect(migrate(raw)).toBe(migrations.at(-1)!.version);
    expect(migrate(raw)).toBe(migrations.at(-1)!.version);
    expect(raw.prepare('SELECT count(*) AS n FROM projects').get()).toEqual({ n: 1 });
    raw.close();
  });

  it('rolls back a failing migration as a whole', () => {
    const raw = new Database(':memory:');
    const broken = [{ version: 1, sql: 'CREATE TABLE a (x); CREATE TABLE a (y);' }];
    expect(() => {
      for (const m of broken) raw.transaction(() => raw.exec(m.sql))();
    }).toThrow(/already exists/);
    expect(raw.prepare("SELECT count(*) AS n FROM sqlite_master WHERE name = 'a'").get()).toEqual({ n: 0 });
  });

  it('stores settings, falls back to defaults for missing or invalid values', () => {
    const db = openDatabase(tempDb());
    const settings = createSettingsRepo(db);
    expect(settings.get()).toEqual(defaultSettings);
    expect(settings.update({ theme: 'dark' }).theme).toBe('dark');
    db.prepare("UPDATE settings SET value = '\"purple\"' WHERE key = 'theme'").run();
    expect(settings.get().theme).toBe(defaultSettings.theme);
    db.close();
  });

  it('keeps recent projects newest first, one row per path', () => {
    const db = openDatabase(tempDb());
    let tick = 0;
    const repo = createProjectsRepo(db, () => new Date(Date.UTC(2026, 0, 1, 0, 0, tick++)));
    repo.touch('/a', 'a', 'folder');
    repo.touch('/b', 'b', 'notebook');
    repo.touch('/a', 'a', 'folder');
    expect(repo.recent().map((p) => p.path)).toEqual(['/a', '/b']);
    repo.forget(repo.recent()[0].id);
    expect(repo.recent().map((p) => p.path)).toEqual(['/b']);
    db.close();
  });
});
