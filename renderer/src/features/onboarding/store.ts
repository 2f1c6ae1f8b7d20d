import { create } from 'zustand';
import type { BerthError } from '../../../../shared/errors';
import { call } from '../../api/client';
import { useApp } from '../app/store';
import { openExampleProject } from '../projects/example';
import { formatBytes } from '../servers/format';

export const stepIds = ['engine', 'baseImage', 'target', 'example'] as const;
export type StepId = (typeof stepIds)[number];

export interface Step {
  state: 'checking' | 'done' | 'todo' | 'problem';
  /** What Berth found, or what to do about it. */
  detail: string;
}

interface OnboardingState {
  steps: Record<StepId, Step>;
  /** The step whose action is running. */
  busy?: StepId;
  /** Reads each step's state again from the services. */
  check(): Promise<void>;
  /** Registers this computer's Docker engine as the target (`servers.addLocal`). */
  useThisComputer(): Promise<void>;
  /** Opens the bundled example project on the Projects page. */
  openExample(): Promise<void>;
}

const checking: Step = { state: 'checking', detail: 'Checking…' };
const initialSteps = Object.fromEntries(stepIds.map((id) => [id, checking])) as Record<StepId, Step>;

const messageOf = (error: unknown) => (error as BerthError).message ?? String(error);

/** How to start the engine where Berth runs (web mode: the server's platform, which is where the engine is). */
export function startDockerHint(platform: string | undefined): string {
  if (platform === 'darwin') return 'Start Docker Desktop (Applications → Docker) and wait until it says the engine is running.';
  if (platform === 'win32') return 'Start Docker Desktop from the Start menu and wait until it says the engine is running.';
  return 'Start it (`sudo systemctl start docker`, or Docker Desktop); if it runs, check the socket in Settings and that your user may use it (the `docker` group).';
}

async function engineStep(): Promise<Step> {
  try {
    const engine = await call('engine.info', {});
    return { state: 'done', detail: `Docker ${engine.version} (${engine.os}/${engine.arch}) at ${engine.socket}` };
  } catch (error) {
    const platform = await call('app.info', {}).then((info) => info.platform, () => undefined);
    return { state: 'problem', detail: `${messageOf(error)}. ${startDockerHint(platform)}` };
  }
}

async function baseImageStep(): Promise<Step> {
  try {
    const base = await call('engine.baseImage', {});
    if (base.present) return { state: 'done', detail: `${base.image} is on this computer (${formatBytes(base.sizeBytes ?? 0)})` };
    const size = base.sizeBytes === null ? 'its size is not known until then' : `about ${formatBytes(base.sizeBytes)}`;
    return { state: 'todo', detail: `${base.image} is not on this computer yet: the first build pulls it (${size}).` };
  } catch (error) {
    return { state: 'problem', detail: messageOf(error) };
  }
}

async function targetStep(): Promise<Step> {
  try {
    const servers = await call('servers.list', {});
    if (servers.length) return { state: 'done', detail: `Deploys can go to ${servers.map((s) => (s.local ? 'this computer' : s.name)).join(', ')}` };
    return { state: 'todo', detail: "Deploy to this computer's Docker engine, or to your Linux servers over SSH." };
  } catch (error) {
    return { state: 'problem', detail: messageOf(error) };
  }
}

async function exampleStep(): Promise<Step> {
  try {
    const models = await Promise.all((await call('deploy.models', {})).map((model) => call('deploy.model', { model })));
    const live = models.flatMap((m) => m.versions.filter((v) => v.state === 'live').map((v) => `${m.name} v${v.number}`));
    if (live.length) return { state: 'done', detail: `Live: ${live.join(', ')}` };
    return { state: 'todo', detail: 'Open the example project, build it, then deploy the smoke-tested build.' };
  } catch (error) {
    return { state: 'problem', detail: messageOf(error) };
  }
}

const checks: Record<StepId, () => Promise<Step>> = { engine: engineStep, baseImage: baseImageStep, target: targetStep, example: exampleStep };

export const useOnboarding = create<OnboardingState>((set, get) => {
  const setStep = (id: StepId, step: Step) => set({ steps: { ...get().steps, [id]: step } });

  /** Runs a step's action; its failure becomes the step's problem, and every step is read again after it. */
  async function act(id: StepId, action: () => Promise<unknown>) {
    set({ busy: id });
    try {
      await action();
      await get().check();
    } catch (error) {
      await get().check();
      setStep(id, { state: 'problem', detail: messageOf(error) });
    } finally {
      set({ busy: undefined });
    }
  }

  return {
    steps: initialSteps,
    async check() {
      const results = await Promise.all(stepIds.map(async (id) => [id, await checks[id]()] as const));
      set({ steps: Object.fromEntries(results) as Record<StepId, Step> });
    },
    useThisComputer: () => act('target', () => call('servers.addLocal', {})),
    openExample: () =>
      act('example', async () => {
        useApp.getState().go('projects');
        await openExampleProject();
      }),
  };
});
