import { defaultSettings, Settings, type SettingsPatch } from '../../../../shared/types';
import type { Db } from './database';

/** Settings are stored one row per key so a new setting needs no migration; unknown or stale rows fall back to defaults. */
export function createSettingsRepo(db: Db) {
  const readAll = db.prepare<[], { key: string; value: string }>('SELECT key, value FROM settings');
  const upsert = db.prepare('INSERT INTO settings (key, value) VALUES (?, ?) ON CONFLICT(key) DO UPDATE SET value = excluded.value');

  function get(): Settings {
    const stored: Record<string, unknown> = {};
    for (const row of readAll.all()) stored[row.key] = JSON.parse(row.value);
    const merged = { ...defaultSettings };
    for (const key of Object.keys(defaultSettings) as (keyof Settings)[]) {
      const field = Settings.shape[key].safeParse(stored[key]);
      if (field.success) Object.assign(merged, { [key]: field.data });
    }
    return merged;
  }

  function update(patch: SettingsPatch): Settings {
    db.transaction(() => {
      for (const [key, value] of Object.entries(patch)) if (value !== undefined) upsert.run(key, JSON.stringify(value));
    })();
    return get();
  }

  return { get, update };
}
export type SettingsRepo = ReturnType<typeof createSettingsRepo>;
