/**
 * The user's edits to the generated Dockerfile and requirements, kept per project.
 * A regeneration replaces only what the user never edited; an edited file stays as the user wrote it, and the UI
 * gets the diff of what the generator changed since (plus a merge suggestion when that diff applies cleanly).
 */
import { applyPatch, createTwoFilesPatch, structuredPatch } from 'diff';
import type { EditableFile, EditableFileState, EditsState } from '../../../../shared/build';
import { BerthError } from '../../../../shared/errors';
import type { Db } from '../store/database';

interface EditRow {
  project_path: string;
  file: EditableFile;
  generated: string;
  edited: string | null;
  based_on: string | null;
  updated_at: string;
}

const FILE_NAMES: Record<EditableFile, string> = { dockerfile: 'Dockerfile', requirements: 'requirements.txt' };

/** What one file looks like given the text generated now and the stored edit (pure). */
export function fileState(file: EditableFile, generated: string, edit: { edited: string; basedOn: string } | null): EditableFileState {
  if (!edit) {
    return { file, generated, edited: null, basedOn: null, effective: generated, generatorChanged: false, generatorDiff: null, mergeSuggestion: null };
  }
  const changed = edit.basedOn !== generated;
  let generatorDiff: string | null = null;
  let mergeSuggestion: string | null = null;
  if (changed) {
    const name = FILE_NAMES[file];
    generatorDiff = createTwoFilesPatch(`${name} (generated when you edited it)`, `${name} (generated now)`, edit.basedOn, generated);
    const merged = applyPatch(edit.edited, structuredPatch('a', 'b', edit.basedOn, generated));
    mergeSuggestion = merged === false || merged === edit.edited ? null : merged;
  }
  return {
    file,
    generated,
    edited: edit.edited,
    basedOn: edit.basedOn,
    effective: edit.edited,
    generatorChanged: changed,
    generatorDiff,
    mergeSuggestion,
  };
}

export function createEditsRepo(db: Db, now: () => Date = () => new Date()) {
  const select = db.prepare<[string], EditRow>('SELECT * FROM build_edits WHERE project_path = ?');
  const upsertGenerated = db.prepare<[string, string, string, string]>(
    `INSERT INTO build_edits (project_path, file, generated, updated_at) VALUES (?, ?, ?, ?)
     ON CONFLICT(project_path, file) DO UPDATE SET generated = excluded.generated, updated_at = excluded.updated_at`,
  );
  const setEdit = db.prepare<[string | null, string | null, string, string, string]>(
    'UPDATE build_edits SET edited = ?, based_on = ?, updated_at = ? WHERE project_path = ? AND file = ?',
  );

  function rows(projectPath: string): Map<EditableFile, EditRow> {
    return new Map(select.all(projectPath).map((r) => [r.file, r]));
  }

  function states(projectPath: string, generated: Record<EditableFile, string>): EditsState {
    const stored = rows(projectPath);
    const one = (file: EditableFile) => {
      const row = stored.get(file);
      const edit = row?.edited != null && row.based_on != null ? { edited: row.edited, basedOn: row.based_on } : null;
      return fileState(file, generated[file], edit);
    };
    return { dockerfile: one('dockerfile'), requirements: one('requirements') };
  }

  /** The state against the last generated text (no regeneration). */
  function current(projectPath: string): EditsState {
    const stored = rows(projectPath);
    if (stored.size < 2) throw notPrepared(projectPath);
    return states(projectPath, { dockerfile: stored.get('dockerfile')!.generated, requirements: stored.get('requirements')!.generated });
  }

  return {
    current,
    /** The user's saved text for one file, or null when they never edited it. */
    editedText: (projectPath: string, file: EditableFile): string | null => rows(projectPath).get(file)?.edited ?? null,
    /**
     * Records what the generator produces now and returns each file's state. Never touches an edit: the edit keeps
     * its `basedOn`, so the diff to the new generated text stays visible until the user saves or resets.
     */
    regenerate(projectPath: string, generated: Record<EditableFile, string>): EditsState {
      const at = now().toISOString();
      db.transaction(() => {
        for (const file of ['dockerfile', 'requirements'] as const) upsertGenerated.run(projectPath, file, generated[file], at);
      })();
      return states(projectPath, generated);
    },

    /**
     * Saves the user's text, based on the last generated text. Saving again after the generator changed rebases the
     * edit on the new text (the user has seen the diff). Text equal to the generated file drops the edit.
     */
    save(projectPath: string, texts: Partial<Record<EditableFile, string>>): EditsState {
      const stored = rows(projectPath);
      if (stored.size < 2) throw notPrepared(projectPath);
      const at = now().toISOString();
      db.transaction(() => {
        for (const [file, text] of Object.entries(texts) as [EditableFile, string | undefined][]) {
          if (text === undefined) continue;
          const generated = stored.get(file)!.generated;
          if (text === generated) setEdit.run(null, null, at, projectPath, file);
          else setEdit.run(text, generated, at, projectPath, file);
        }
      })();
      return current(projectPath);
    },

    reset(projectPath: string, files: EditableFile[] = ['dockerfile', 'requirements']): EditsState {
      const stored = rows(projectPath);
      if (stored.size < 2) throw notPrepared(projectPath);
      const at = now().toISOString();
      db.transaction(() => {
        for (const file of files) setEdit.run(null, null, at, projectPath, file);
      })();
      return current(projectPath);
    },
  };
}
export type EditsRepo = ReturnType<typeof createEditsRepo>;

function notPrepared(projectPath: string): BerthError {
  return new BerthError('NotFound', `Berth has not generated a Dockerfile for ${projectPath} yet: open the project's build view (build.prepare) first.`);
}
