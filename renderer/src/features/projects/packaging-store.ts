import { create } from 'zustand';
import { createJSONStorage, persist } from 'zustand/middleware';
import type { EditableFile, EditsState, PreparedBuild } from '../../../../shared/build';
import type { BerthError } from '../../../../shared/errors';
import type { AnalyzeOptions } from '../../../../shared/project';
import { call } from '../../api/client';
import { useSettings } from '../settings/store';

type Drafts = Partial<Record<EditableFile, string>>;

/**
 * The packaging view of the open project: its analysis, the generated files reconciled with the user's kept edits
 * (`build.prepare`), and the user's unsaved text. Unsaved text is never replaced by a regeneration: it is saved
 * first (so the backend's "generator changed" diff applies to it), and the user picks what to keep.
 */
interface PackagingState {
  path?: string;
  prepared?: PreparedBuild;
  preparing: boolean;
  saving: boolean;
  /** Why the project could not be analysed (e.g. a damaged notebook). */
  error?: BerthError;
  /** Why saving or resetting an edit failed. */
  editError?: BerthError;
  /** The analysis choices per project path (entrypoint, interpreter, notebook); kept across restarts. */
  options: Record<string, AnalyzeOptions>;
  /** Unsaved editor text per project path. */
  drafts: Record<string, Drafts>;
  /** Module lines to highlight (a notebook cell's code). */
  highlight: { startLine: number; endLine: number } | null;
  load(path: string): Promise<void>;
  reanalyse(): Promise<void>;
  /** Generates the files again after a setting they come from changed (saving unsaved edits first). */
  regenerate(): Promise<void>;
  /** Changes an analysis option and analyses again (saving unsaved edits first). */
  setOptions(patch: AnalyzeOptions): Promise<void>;
  setDraft(file: EditableFile, text: string): void;
  discardDraft(file: EditableFile): void;
  /** Saves unsaved text (one file or all); resolves false when saving failed. */
  save(file?: EditableFile): Promise<boolean>;
  /** Saves the given text as the user's edit of `file`. */
  saveText(file: EditableFile, text: string): Promise<boolean>;
  /** "Keep mine": the user has seen the generator's diff and keeps their text; it is now based on the new output. */
  keepMine(file: EditableFile): Promise<boolean>;
  applySuggestion(file: EditableFile): Promise<boolean>;
  resetToGenerated(file: EditableFile): Promise<boolean>;
  showCell(cell: number): void;
  clearHighlight(): void;
  dismissEditError(): void;
}

/** Drops a draft that equals what the file already is. */
function cleaned(drafts: Drafts, prepared?: PreparedBuild): Drafts {
  const out: Drafts = {};
  for (const file of ['dockerfile', 'requirements'] as const) {
    const text = drafts[file];
    if (text !== undefined && text !== prepared?.[file].effective) out[file] = text;
  }
  return out;
}

export const usePackaging = create<PackagingState>()(
  persist(
    (set, get) => {
      let request = 0;

      async function prepare(path: string) {
        const mine = ++request;
        set({ preparing: true, error: undefined, ...(get().path === path ? {} : { path, prepared: undefined, highlight: null }) });
        try {
          const prepared = await call('build.prepare', { path, options: get().options[path] });
          if (mine !== request) return;
          const drafts = { ...get().drafts, [path]: cleaned(get().drafts[path] ?? {}, prepared) };
          set({ prepared, preparing: false, drafts });
        } catch (error) {
          if (mine !== request) return;
          set({ error: error as BerthError, preparing: false, prepared: undefined });
        }
      }

      function applyEdits(path: string, state: EditsState, clearDraftsOf: EditableFile[]) {
        const { prepared, drafts } = get();
        if (get().path !== path || !prepared) return;
        const kept = { ...(drafts[path] ?? {}) };
        for (const file of clearDraftsOf) delete kept[file];
        set({ prepared: { ...prepared, ...state }, drafts: { ...drafts, [path]: kept }, editError: undefined });
      }

      async function edit(files: EditableFile[], run: (path: string) => Promise<EditsState>): Promise<boolean> {
        const path = get().path;
        if (!path) return false;
        set({ saving: true });
        try {
          applyEdits(path, await run(path), files);
          return true;
        } catch (error) {
          set({ editError: error as BerthError });
          return false;
        } finally {
          set({ saving: false });
        }
      }

      return {
        preparing: false,
        saving: false,
        options: {},
        drafts: {},
        highlight: null,
        load: (path) => prepare(path),
        async reanalyse() {
          const path = get().path;
          if (path) await prepare(path);
        },
        async regenerate() {
          const path = get().path;
          if (path && (await get().save())) await prepare(path);
        },
        async setOptions(patch) {
          const path = get().path;
          if (!path) return;
          if (!(await get().save())) return;
          const merged = { ...get().options[path], ...patch };
          for (const key of Object.keys(merged) as (keyof AnalyzeOptions)[]) if (merged[key] === undefined || merged[key] === '') delete merged[key];
          set({ options: { ...get().options, [path]: merged } });
          await prepare(path);
        },
        setDraft(file, text) {
          const { path, drafts, prepared } = get();
          if (!path) return;
          set({ drafts: { ...drafts, [path]: cleaned({ ...drafts[path], [file]: text }, prepared) } });
        },
        discardDraft(file) {
          const { path, drafts } = get();
          if (!path) return;
          const kept = { ...drafts[path] };
          delete kept[file];
          set({ drafts: { ...drafts, [path]: kept } });
        },
        async save(file) {
          const { path, drafts } = get();
          const pending = path ? (drafts[path] ?? {}) : {};
          const files = (file ? [file] : (['dockerfile', 'requirements'] as const)).filter((f) => pending[f] !== undefined);
          if (!files.length) return true;
          const texts = Object.fromEntries(files.map((f) => [f, pending[f]]));
          return edit(files, (p) => call('build.saveEdits', { path: p, ...texts }));
        },
        saveText: (file, text) => edit([file], (path) => call('build.saveEdits', { path, [file]: text })),
        async keepMine(file) {
          const { path, drafts, prepared } = get();
          const mine = (path ? drafts[path]?.[file] : undefined) ?? prepared?.[file].edited;
          if (mine == null) return false;
          return edit([file], (p) => call('build.saveEdits', { path: p, [file]: mine }));
        },
        async applySuggestion(file) {
          const suggestion = get().prepared?.[file].mergeSuggestion;
          if (!suggestion) return false;
          return edit([file], (path) => call('build.saveEdits', { path, [file]: suggestion }));
        },
        resetToGenerated: (file) => edit([file], (path) => call('build.resetEdits', { path, files: [file] })),
        showCell(cell) {
          const entry = get().prepared?.analysis.module.cellMap.find((c) => c.cell === cell);
          set({ highlight: entry ? { startLine: entry.startLine, endLine: entry.endLine } : null });
        },
        clearHighlight: () => set({ highlight: null }),
        dismissEditError: () => set({ editError: undefined }),
      };
    },
    {
      name: 'berth.projects.packaging',
      storage: createJSONStorage(() => localStorage),
      // Only the user's choices survive a restart; analysis results are always fetched fresh.
      partialize: (state) => ({ options: state.options }),
    },
  ),
);

// The generated Dockerfile starts from the Settings' base image: a new one shows at once, without "Analyse again".
useSettings.subscribe((state, previous) => {
  if (previous.settings && state.settings && state.settings.baseImage !== previous.settings.baseImage) void usePackaging.getState().regenerate();
});

/** The unsaved text of one file of the open project, if any. */
export function useDraft(file: EditableFile): string | undefined {
  return usePackaging((s) => (s.path ? s.drafts[s.path]?.[file] : undefined));
}
