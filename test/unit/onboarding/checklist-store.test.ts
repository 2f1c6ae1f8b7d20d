/**
 * The first-run checklist's step logic against a fake `call`: what each answer of the services makes of a step, and
 * that an action's failure (servers.addLocal before it exists, say) becomes its step's problem instead of an error.
 */
import { beforeEach, describe, expect, it, vi } from 'vitest';
import { BerthError } from '../../../shared/errors';

type Answers = Record<string, (input: any) => unknown>;
const answers: Answers = {};
const calls: string[] = [];

vi.mock('../../../renderer/src/api/client', () => ({
  call: vi.fn(async (name: string, input: unknown) => {
    calls.push(name);
    if (!answers[name]) throw new BerthError('Internal', `no fake answer for ${name}`);
    return answers[name](input);
  }),
  subscribe: vi.fn(() => () => {}),
}));

// The packaging store keeps the analysis choices in the page's localStorage.
const stored = new Map<string, string>();
vi.stubGlobal('localStorage', { getItem: (k: string) => stored.get(k) ?? null, setItem: (k: string, v: string) => void stored.set(k, v), removeItem: (k: string) => void stored.delete(k) });

const { useOnboarding, startDockerHint } = await import('../../../renderer/src/features/onboarding/store');
const { useApp } = await import('../../../renderer/src/features/app/store');
const { useProjects } = await import('../../../renderer/src/features/projects/store');

const server = (name: string, local = false) => ({ id: 1, name, local });
const engine = { socket: '/var/run/docker.sock', version: '28.2.2', apiVersion: '1.50', os: 'linux', arch: 'amd64', cpus: 4, memoryBytes: 8e9 };
const example = { id: 7, path: '/data/examples/iris-classifier', name: 'iris-classifier', kind: 'folder', openedAt: '2026-12-06T22:00:00Z' };

/** A machine with Docker and the base image, no target and nothing deployed: the e2e machine's first start. */
function freshMachine(): void {
  for (const key of Object.keys(answers)) delete answers[key];
  Object.assign(answers, {
    'app.info': () => ({ version: '0', mode: 'web', dataDir: '/data', platform: 'linux' }),
    'engine.info': () => engine,
    'engine.baseImage': () => ({ image: 'python:3.11-slim', present: true, sizeBytes: 130 * 1024 * 1024 }),
    'servers.list': () => [],
    'deploy.models': () => [],
  } satisfies Answers);
}

const steps = () => useOnboarding.getState().steps;
const states = () => Object.fromEntries(Object.entries(steps()).map(([id, s]) => [id, s.state]));

beforeEach(() => {
  freshMachine();
  calls.length = 0;
  useApp.setState({ page: 'settings' });
});

describe('the first-run checklist', () => {
  it('on a machine with Docker and the base image: the engine and image are done, a target and the example to do', async () => {
    await useOnboarding.getState().check();
    expect(states()).toEqual({ engine: 'done', baseImage: 'done', target: 'todo', example: 'todo' });
    expect(steps().engine.detail).toBe('Docker 28.2.2 (linux/amd64) at /var/run/docker.sock');
    expect(steps().baseImage.detail).toBe('python:3.11-slim is on this computer (130 MiB)');
  });

  it('an absent base image is to do: the first build pulls it, its size unknown until then', async () => {
    answers['engine.baseImage'] = () => ({ image: 'python:3.11-slim', present: false, sizeBytes: null });
    await useOnboarding.getState().check();
    expect(steps().baseImage).toEqual({ state: 'todo', detail: 'python:3.11-slim is not on this computer yet: the first build pulls it (its size is not known until then).' });
  });

  it('an unreachable engine is a problem that says how to start it on the platform Berth runs on', async () => {
    const down = () => {
      throw new BerthError('DockerUnavailable', 'Docker engine not reachable at /var/run/docker.sock: is dockerd running?');
    };
    Object.assign(answers, { 'engine.info': down, 'engine.baseImage': down, 'app.info': () => ({ platform: 'darwin' }) });
    await useOnboarding.getState().check();
    expect(steps().engine).toEqual({ state: 'problem', detail: `Docker engine not reachable at /var/run/docker.sock: is dockerd running?. ${startDockerHint('darwin')}` });
    expect(steps().engine.detail).toContain('Docker Desktop');
    expect(steps().baseImage.state).toBe('problem');
    expect(startDockerHint('linux')).toContain('systemctl start docker');
    expect(startDockerHint('win32')).toContain('Start menu');
  });

  it('a server makes the target done; a live version of any model makes the example done', async () => {
    answers['servers.list'] = () => [server('this-computer', true), server('tb1')];
    answers['deploy.models'] = () => ['iris-classifier', 'other'];
    answers['deploy.model'] = ({ model }: { model: string }) => ({
      name: model,
      versions: model === 'other' ? [{ number: 1, state: 'stopped' }] : [{ number: 1, state: 'retired' }, { number: 2, state: 'live' }],
    });
    await useOnboarding.getState().check();
    expect(states()).toEqual({ engine: 'done', baseImage: 'done', target: 'done', example: 'done' });
    expect(steps().target.detail).toBe('Deploys can go to this computer, tb1');
    expect(steps().example.detail).toBe('Live: iris-classifier v2');
  });

  it('"Use this computer" failing (servers.addLocal not there yet) is the target step’s problem, not a crash', async () => {
    answers['servers.addLocal'] = () => {
      throw new BerthError('Internal', 'servers.addLocal is not implemented');
    };
    await expect(useOnboarding.getState().useThisComputer()).resolves.toBeUndefined();
    expect(steps().target).toEqual({ state: 'problem', detail: 'servers.addLocal is not implemented' });
    expect(steps().engine.state).toBe('done');
    expect(useOnboarding.getState().busy).toBeUndefined();
  });

  it('"Use this computer" registers this computer, and the target is done', async () => {
    answers['servers.addLocal'] = () => {
      answers['servers.list'] = () => [server('this-computer', true)];
      return {};
    };
    await useOnboarding.getState().useThisComputer();
    expect(calls).toContain('servers.addLocal');
    expect(steps().target).toEqual({ state: 'done', detail: 'Deploys can go to this computer' });
  });

  it('"Open the example project" opens the copy on the Projects page and analyses it', async () => {
    Object.assign(answers, {
      'projects.openExample': () => example,
      'projects.open': ({ path }: { path: string }) => ({ ...example, path }),
      'projects.recent': () => [example],
      'build.prepare': () => ({}),
    } satisfies Answers);
    await useOnboarding.getState().openExample();
    expect(useApp.getState().page).toBe('projects');
    expect(useProjects.getState().current).toMatchObject({ path: example.path });
    expect(calls).toEqual(expect.arrayContaining(['projects.openExample', 'projects.open', 'build.prepare']));
    expect(steps().example.state).toBe('todo');
  });

  it('an example that cannot be copied is the example step’s problem', async () => {
    answers['projects.openExample'] = () => {
      throw new BerthError('Internal', 'Berth’s example project (iris-classifier) is missing from the installation; reinstall Berth.');
    };
    await useOnboarding.getState().openExample();
    expect(steps().example).toEqual({ state: 'problem', detail: 'Berth’s example project (iris-classifier) is missing from the installation; reinstall Berth.' });
  });
});
