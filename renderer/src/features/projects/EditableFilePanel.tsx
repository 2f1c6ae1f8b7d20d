import { useState } from 'react';
import type { EditableFile, EditableFileState } from '../../../../shared/build';
import { CodeEditor } from '../../components/CodeEditor';
import { GeneratorDiff } from './GeneratorDiff';
import { useDraft, usePackaging } from './packaging-store';

const names: Record<EditableFile, string> = { dockerfile: 'Dockerfile', requirements: 'requirements.txt' };

/**
 * One generated file in an editor. The user's saved edit is kept per project; when the generator's output changed
 * since that edit, the diff is shown and nothing changes until the user picks "keep mine", "apply suggestion"
 * or "reset to generated".
 */
export function EditableFilePanel({ state, language, height }: { state: EditableFileState; language: 'dockerfile' | 'plaintext'; height: number }) {
  const { file } = state;
  const name = names[file];
  const draft = useDraft(file);
  const { setDraft, discardDraft, save, saving, preparing } = usePackaging();
  const dirty = draft !== undefined;
  const [confirmReset, setConfirmReset] = useState(false);

  return (
    <div
      className="editable-file"
      data-testid={`file-${file}`}
      onKeyDown={(e) => {
        // Ctrl/Cmd+S in the editor saves this file (Monaco leaves the shortcut unbound).
        if ((e.ctrlKey || e.metaKey) && e.key.toLowerCase() === 's') {
          e.preventDefault();
          if (dirty) void save(file);
        }
      }}
    >
      <div className="row wrap">
        {state.edited !== null ? (
          <span className="pill edited" data-testid={`${file}-edited`}>
            edited by you
          </span>
        ) : (
          <span className="pill unknown">as generated</span>
        )}
        {dirty && <span className="pill warn-pill">unsaved changes</span>}
        <span className="spacer" />
        {dirty && (
          <button onClick={() => discardDraft(file)} disabled={saving}>
            Discard changes
          </button>
        )}
        {state.edited !== null && !state.generatorChanged && <ResetButton file={file} confirm={confirmReset} setConfirm={setConfirmReset} />}
        <button className="primary" onClick={() => void save(file)} disabled={!dirty || saving || preparing} aria-label={`Save ${name}`} title="Ctrl+S in the editor">
          {saving && dirty ? 'Saving…' : 'Save'}
        </button>
      </div>
      {state.generatorChanged && <GeneratorChanged state={state} dirty={dirty} />}
      <CodeEditor
        label={file}
        language={language}
        value={draft ?? state.effective}
        onChange={(text) => setDraft(file, text)}
        height={height}
      />
    </div>
  );
}

function ResetButton({ file, confirm, setConfirm }: { file: EditableFile; confirm: boolean; setConfirm: (v: boolean) => void }) {
  const { resetToGenerated, saving } = usePackaging();
  if (!confirm) return <button onClick={() => setConfirm(true)}>Reset to generated</button>;
  return (
    <span className="row confirm">
      <span className="bad small">Discard your edit of {names[file]}?</span>
      <button
        className="danger"
        disabled={saving}
        onClick={() => {
          setConfirm(false);
          void resetToGenerated(file);
        }}
      >
        Yes, reset
      </button>
      <button onClick={() => setConfirm(false)}>No</button>
    </span>
  );
}

/** The generator's output moved on since the user's edit: show how, keep the edit until the user decides. */
function GeneratorChanged({ state, dirty }: { state: EditableFileState; dirty: boolean }) {
  const { keepMine, applySuggestion, saving } = usePackaging();
  const [confirmReset, setConfirmReset] = useState(false);
  const name = names[state.file];
  const applyBlocked = !state.mergeSuggestion
    ? 'Your edit and Berth’s change touch the same lines: copy the change in by hand, or reset to the generated file.'
    : dirty
      ? 'Save or discard your unsaved changes first: the suggestion is based on your saved edit.'
      : undefined;

  return (
    <div className="generator-changed" role="status" data-testid={`${state.file}-generator-changed`}>
      <div>
        <strong>Berth now generates a different {name}</strong> than the one your edit started from. Your edit is kept and
        used for builds until you choose:
      </div>
      <div className="row wrap">
        <button onClick={() => void keepMine(state.file)} disabled={saving} title="Keep your text as it is; it is now based on the new generated file">
          Keep mine
        </button>
        <button className="primary" onClick={() => void applySuggestion(state.file)} disabled={saving || Boolean(applyBlocked)} title={applyBlocked ?? 'Your edit with Berth’s change applied'}>
          Apply suggestion
        </button>
        <ResetButton file={state.file} confirm={confirmReset} setConfirm={setConfirmReset} />
        {applyBlocked && <span className="muted small">{applyBlocked}</span>}
      </div>
      {state.generatorDiff && <GeneratorDiff diff={state.generatorDiff} />}
    </div>
  );
}
