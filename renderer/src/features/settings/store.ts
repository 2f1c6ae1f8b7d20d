import { create } from 'zustand';
import type { Settings, SettingsPatch } from '../../../../shared/types';
import type { BerthError } from '../../../../shared/errors';
import { call } from '../../api/client';

interface SettingsState {
  settings?: Settings;
  error?: BerthError;
  saved: boolean;
  load(): Promise<void>;
  update(patch: SettingsPatch): Promise<void>;
}

export const useSettings = create<SettingsState>((set) => ({
  saved: false,
  async load() {
    try {
      set({ settings: await call('settings.get', {}) });
    } catch (error) {
      set({ error: error as BerthError });
    }
  },
  async update(patch) {
    try {
      set({ settings: await call('settings.update', patch), error: undefined, saved: true });
    } catch (error) {
      set({ error: error as BerthError, saved: false });
    }
  },
}));
