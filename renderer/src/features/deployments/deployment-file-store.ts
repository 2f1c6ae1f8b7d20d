import { create } from 'zustand';
import type { DeploymentFileView, SaveDeploymentInput, SavedDeployment } from '../../../../shared/deployment-file';
import type { BerthError } from '../../../../shared/errors';
import type { ProjectFileIssue } from '../../../../shared/project-file';
import { call } from '../../api/client';

export type DeploymentValues = Omit<SaveDeploymentInput, 'path' | 'write'>;

/**
 * The berth.toml of the project the deploy panel deploys (the selected build's): what it says, and the change the
 * panel's values would make to it, previewed as a diff before it is written.
 */
interface DeploymentFileState {
  path?: string;
  view?: DeploymentFileView;
  /** The file is not valid: its issues; nothing of this project may be deployed until it is fixed. */
  invalid?: { file?: string; message: string; issues: ProjectFileIssue[] };
  /** The change waiting for the user's confirmation. */
  pending?: { values: DeploymentValues; preview: SavedDeployment };
  busy: boolean;
  error?: BerthError;
  load(path: string): Promise<void>;
  /** Shows what the panel's values would change (nothing is written). */
  preview(values: DeploymentValues): Promise<void>;
  /** Writes the previewed change, then reads the file again. */
  confirm(): Promise<void>;
  cancel(): void;
  dismiss(): void;
}

/** ProjectFileInvalid's detail: the file and its issues (an unreadable file has neither). */
function invalidOf(error: BerthError): DeploymentFileState['invalid'] {
  const detail = error.detail as { file?: string; issues?: ProjectFileIssue[] } | undefined;
  return { file: detail?.file, message: error.message, issues: detail?.issues ?? [] };
}

export const useDeploymentFile = create<DeploymentFileState>((set, get) => {
  let request = 0;

  /** Runs one call for the current project; a ProjectFileInvalid answer marks the file invalid, drops a stale answer. */
  async function run<T>(work: (path: string) => Promise<T>, apply: (value: T) => Partial<DeploymentFileState>) {
    const path = get().path;
    if (!path) return;
    const mine = ++request;
    set({ busy: true, error: undefined });
    try {
      const value = await work(path);
      if (mine === request) set({ ...apply(value), invalid: undefined, busy: false });
    } catch (err) {
      if (mine !== request) return;
      const error = err as BerthError;
      if (error.kind === 'ProjectFileInvalid') set({ invalid: invalidOf(error), view: undefined, pending: undefined, busy: false });
      else set({ error, busy: false });
    }
  }

  const read = (path: string) => call('projects.deployment', { path });

  return {
    busy: false,
    async load(path) {
      if (get().path !== path) set({ path, view: undefined, invalid: undefined, pending: undefined });
      await run(read, (view) => ({ view }));
    },
    preview: (values) => run((path) => call('projects.saveDeployment', { path, ...values, write: false }), (preview) => ({ pending: { values, preview } })),
    async confirm() {
      const values = get().pending?.values;
      if (!values) return;
      const write = async (path: string) => {
        await call('projects.saveDeployment', { path, ...values, write: true });
        return read(path);
      };
      await run(write, (view) => ({ view, pending: undefined }));
    },
    cancel: () => set({ pending: undefined }),
    dismiss: () => set({ error: undefined }),
  };
});
