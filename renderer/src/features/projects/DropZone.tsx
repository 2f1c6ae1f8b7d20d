import { useState } from 'react';
import { isElectron, pathForFile } from '../../api/client';

/**
 * Takes a dropped project folder or notebook. In Electron the dropped File gives its real path; a browser hides
 * paths, so web mode accepts a dropped path as text (e.g. from a file manager or terminal) or a typed one.
 */
export function DropZone({ onPath, compact = false }: { onPath: (path: string) => void; compact?: boolean }) {
  const [hover, setHover] = useState(false);
  const [typed, setTyped] = useState('');

  function onDrop(event: React.DragEvent) {
    event.preventDefault();
    setHover(false);
    const file = event.dataTransfer.files[0];
    const fromFile = file ? pathForFile(file) : null;
    const fromText = event.dataTransfer.getData('text/plain').trim() || event.dataTransfer.getData('text/uri-list').trim();
    const path = fromFile ?? (fromText.startsWith('file://') ? decodeURI(new URL(fromText).pathname) : fromText);
    if (path) onPath(path);
  }

  return (
    <div
      className={`dropzone${compact ? ' compact' : ''}${hover ? ' hover' : ''}`}
      data-testid="dropzone"
      onDragOver={(e) => {
        e.preventDefault();
        setHover(true);
      }}
      onDragLeave={() => setHover(false)}
      onDrop={onDrop}
    >
      {compact ? (
        <div className="muted">Drop another notebook project here, or open one by its path</div>
      ) : (
        <>
          <div className="dropzone-title">Drop a notebook project here</div>
          <div className="muted">
            A folder with your .ipynb, model files and requirements — or a single .ipynb.
            {!isElectron && ' In the browser, drop or paste the folder’s path.'}
          </div>
        </>
      )}
      <form
        className="row"
        onSubmit={(e) => {
          e.preventDefault();
          if (typed.trim()) onPath(typed.trim());
        }}
      >
        <input
          aria-label="Project path"
          placeholder="/path/to/project"
          value={typed}
          onChange={(e) => setTyped(e.target.value)}
        />
        <button type="submit">Open</button>
      </form>
    </div>
  );
}
