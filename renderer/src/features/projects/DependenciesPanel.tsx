import { useState } from 'react';
import type { PreparedBuild } from '../../../../shared/build';
import type { Dependency, DependencyStatus } from '../../../../shared/project';
import { EditableFilePanel } from './EditableFilePanel';
import { useDraft, usePackaging } from './packaging-store';
import { choiceProblem, findChoice, withChoice, type Choice } from './requirements';
import { Ticks } from './Ticks';

const statusClass: Record<DependencyStatus, string> = { pinned: 'up', unpinned: 'unknown', unresolved: 'down', ambiguous: 'warn-pill' };
const needsChoice = (d: Dependency) => d.status === 'unresolved' || d.status === 'ambiguous';
const importOf = (d: Dependency) => d.imports[0] ?? d.name;

/** The packages the image installs: where each came from, and the user's choice where Berth could not tell. */
export function DependenciesPanel({ prepared }: { prepared: PreparedBuild }) {
  const { dependencies } = prepared.analysis;
  const draft = useDraft('requirements');
  const requirements = draft ?? prepared.requirements.effective;
  const state = prepared.requirements;
  const [showFile, setShowFile] = useState(false);
  const open = showFile || state.edited !== null || state.generatorChanged || draft !== undefined;
  const openChoices = dependencies.filter(needsChoice).filter((d) => !findChoice(requirements, importOf(d)));

  return (
    <section className="card" aria-label="Dependencies" data-testid="dependencies">
      <div className="row">
        <h2>Dependencies</h2>
        <span className="muted small">the versions the notebook ran with, pinned in the image’s requirements.txt</span>
      </div>
      {dependencies.length === 0 ? (
        <p className="muted">The module imports nothing outside the standard library.</p>
      ) : (
        <table className="table deps">
          <thead>
            <tr>
              <th>Name</th>
              <th>Version</th>
              <th>Status</th>
              <th>Why</th>
            </tr>
          </thead>
          <tbody>
            {dependencies.map((d) => (
              <DependencyRow key={`${d.name}:${d.source}`} dep={d} requirements={requirements} />
            ))}
          </tbody>
        </table>
      )}
      {dependencies.some(needsChoice) && (
        <p className="muted small">
          {openChoices.length > 0 && (
            <Ticks
              text={`Berth could not tell which package provides ${openChoices.map((d) => `\`${importOf(d)}\``).join(', ')}: type the distribution and the version your notebook uses. `}
            />
          )}
          Your choices go into the image’s requirements.txt; at the next analysis an answered import no longer blocks the build.
          It stays as a warning until the package is installed in the project’s interpreter, which the sample check needs.
        </p>
      )}
      <div className="row">
        <button className="link" onClick={() => setShowFile(!open)} aria-expanded={open}>
          {open ? '▾' : '▸'} requirements.txt
        </button>
        {state.edited !== null && <span className="muted small">edited by you</span>}
      </div>
      {open && <EditableFilePanel state={state} language="plaintext" height={180} />}
    </section>
  );
}

function DependencyRow({ dep, requirements }: { dep: Dependency; requirements: string }) {
  const importName = importOf(dep);
  const choice = needsChoice(dep) ? findChoice(requirements, importName) : null;
  const [editing, setEditing] = useState(false);
  const showForm = needsChoice(dep) && (!choice || editing);

  return (
    <tr data-dependency={dep.name} data-status={dep.status}>
      <td>
        <span className="mono">{dep.name}</span>
        {dep.imports.length > 0 && dep.imports.some((i) => i !== dep.name) && <div className="muted small">import {dep.imports.join(', ')}</div>}
      </td>
      <td className="mono">
        {showForm ? (
          <ChoiceForm dep={dep} initial={choice} requirements={requirements} onDone={() => setEditing(false)} />
        ) : choice ? (
          <>
            {choice.distribution}
            {choice.version ? `==${choice.version}` : ''}{' '}
            <button className="link small" onClick={() => setEditing(true)}>
              Change
            </button>
          </>
        ) : (
          dep.version ?? (dep.specifier || '—')
        )}
      </td>
      <td>
        <span className={`pill ${statusClass[dep.status]}`}>{dep.status}</span>
        {choice && <span className="pill up chosen">chosen</span>}
      </td>
      <td className="small">{dep.why.join('; ')}</td>
    </tr>
  );
}

function ChoiceForm({ dep, initial, requirements, onDone }: { dep: Dependency; initial: Choice | null; requirements: string; onDone: () => void }) {
  const { saveText, saving } = usePackaging();
  const [choice, setChoice] = useState<Choice>(initial ?? { distribution: dep.candidates[0] ?? '', version: '' });
  const [touched, setTouched] = useState(false);
  const problem = choiceProblem(choice);
  const importName = importOf(dep);
  const listId = `candidates-${importName}`;

  return (
    <form
      className="row wrap choice"
      onSubmit={async (e) => {
        e.preventDefault();
        setTouched(true);
        if (problem) return;
        if (await saveText('requirements', withChoice(requirements, importName, choice))) onDone();
      }}
    >
      <input
        aria-label={`Distribution for ${importName}`}
        placeholder={dep.status === 'ambiguous' ? 'which one?' : 'package name'}
        list={dep.candidates.length ? listId : undefined}
        value={choice.distribution}
        onChange={(e) => setChoice({ ...choice, distribution: e.target.value })}
      />
      {dep.candidates.length > 0 && (
        <datalist id={listId}>
          {dep.candidates.map((c) => (
            <option key={c} value={c} />
          ))}
        </datalist>
      )}
      <span className="muted">==</span>
      <input aria-label={`Version for ${importName}`} className="short" placeholder="version" value={choice.version} onChange={(e) => setChoice({ ...choice, version: e.target.value })} />
      <button type="submit" disabled={saving} aria-label={`Use for ${importName}`}>
        Use
      </button>
      {touched && problem && <div className="bad small">{problem}</div>}
    </form>
  );
}
