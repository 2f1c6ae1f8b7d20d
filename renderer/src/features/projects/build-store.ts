import { create } from 'zustand';
import type { BuildEvent, BuildPhase, BuildRecord, SmokeResult } from '../../../../shared/build';
import type { BerthError } from '../../../../shared/errors';
import type { AnalyzeOptions, ProjectAnalysis } from '../../../../shared/project';
import { call, subscribe } from '../../api/client';
import { planBuild, proposeBuildPlace, type BuildChoice, type BuildGroup, type BuildOn, type BuildPlace } from '../../../../shared/build-on';
import type { GroupView } from '../../../../shared/servers';

export type BuildStatus = 'idle' | 'running' | 'succeeded' | 'failed' | 'cancelled';
type ResultEvent = Extract<BuildEvent, { type: 'result' }>;

/** The terminal's text lives outside React state: thousands of lines must not re-render the page. */
const MAX_LINES = 20_000;
const logLines: string[] = [];
const logListeners = new Set<(text: string) => void>();

const ansi = { reset: '\x1b[0m', bold: '\x1b[1m', dim: '\x1b[2m', red: '\x1b[31m', green: '\x1b[32m', yellow: '\x1b[33m', cyan: '\x1b[36m' };

function writeLine(line: string) {
  logLines.push(line);
  if (logLines.length > MAX_LINES) logLines.splice(0, logLines.length - MAX_LINES);
  for (const listener of logListeners) listener(`${line}\r\n`);
}

/** Colours a line by where it came from, so Berth's notes and the container's output stand out from Docker's. */
function styled(event: Extract<BuildEvent, { type: 'log' }>): string {
  if (event.source === 'berth') return `${ansi.cyan}${event.line}${ansi.reset}`;
  if (event.source === 'container') return `${ansi.yellow}${event.line}${ansi.reset}`;
  if (/^Step \d+\/\d+ :/.test(event.line)) return `${ansi.bold}${event.line}${ansi.reset}`;
  return event.line;
}

/** What a build's place is chosen from: the groups, the servers' names, this engine's platform and the Settings choice. */
export interface PlaceFacts {
  groups: Pick<GroupView, 'name' | 'platform' | 'serverIds'>[];
  serverNames: Record<number, string>;
  engine: string | null;
  buildOn: BuildOn;
}

/** Where the build of a project deploying to `groupName` runs (the user's choice, else the Settings one), and Berth's proposal. */
export function placementOf(facts: PlaceFacts, groupName: string, choice: BuildChoice | undefined) {
  // A group this Berth does not have has no server to build on, and no known platform.
  const found = facts.groups.find((g) => g.name === groupName);
  const group: BuildGroup = { name: groupName, platform: found?.platform ?? null, serverIds: found?.serverIds ?? [] };
  const serverName = (id: number) => facts.serverNames[id] ?? `server #${id}`;
  const chosen = choice ?? facts.buildOn;
  return { group, chosen, serverName, proposal: proposeBuildPlace(facts.engine, group, serverName), plan: planBuild(chosen, facts.engine, group, serverName) };
}

/** True when the notebook changed since the build: its image does not serve the notebook as it is now. */
export function builtFromOlderNotebook(build: Pick<BuildRecord, 'notebookHash'>, analysis: Pick<ProjectAnalysis, 'notebookHash'>): boolean {
  return build.notebookHash !== analysis.notebookHash;
}

interface PlacementState {
  facts?: PlaceFacts;
  /** Why the facts could not be read. */
  error?: BerthError;
  /** This session's choice per project path; absent: the Settings choice. */
  choices: Record<string, BuildChoice>;
  /** Reads the facts again (a server added to the group a moment ago counts); undefined when they could not be read. */
  refresh(): Promise<PlaceFacts | undefined>;
  choose(path: string, choice: BuildChoice): void;
}

export const useBuildPlacement = create<PlacementState>((set, get) => ({
  choices: {},
  async refresh() {
    try {
      const [settings, groups, servers, engine] = await Promise.all([
        call('settings.get', {}),
        call('groups.list', {}),
        call('servers.list', {}),
        call('engine.info', {}).then((e) => `${e.os}/${e.arch}`, () => null),
      ]);
      const facts = { groups, serverNames: Object.fromEntries(servers.map((s) => [s.id, s.name])), engine, buildOn: settings.buildOn };
      set({ facts, error: undefined });
      return facts;
    } catch (error) {
      set({ facts: undefined, error: error as BerthError });
      return undefined;
    }
  },
  choose: (path, choice) => set({ choices: { ...get().choices, [path]: choice } }),
}));

/** Replays the kept output to a new terminal, then follows new lines; returns the unfollow. */
export function followLog(write: (text: string) => void): () => void {
  if (logLines.length) write(logLines.map((l) => `${l}\r\n`).join(''));
  logListeners.add(write);
  return () => logListeners.delete(write);
}

interface BuildState {
  /** The project of the build shown (running or last finished in this session). */
  path?: string;
  status: BuildStatus;
  phase?: BuildPhase;
  progress?: { step: number; total: number; instruction: string };
  /** The base image's pull while the build's FROM fetches it. */
  pull?: { currentBytes: number; totalBytes: number; layers: number };
  result?: ResultEvent;
  smoke?: SmokeResult;
  error?: BerthError;
  startedAt?: number;
  finishedAt?: number;
  /** Recorded builds per project path, newest first. */
  histories: Record<string, BuildRecord[]>;
  /** `platform`: the target group's (linux/arm64); absent, the local engine's own. */
  start(path: string, options?: AnalyzeOptions, platform?: string, on?: BuildPlace): void;
  cancel(): void;
  loadHistory(path: string): Promise<void>;
}

export const useBuild = create<BuildState>((set, get) => {
  let stop: (() => void) | null = null;

  function finish(status: BuildStatus, error?: BerthError) {
    stop = null;
    set({ status, error, finishedAt: Date.now() });
    const path = get().path;
    if (path) void get().loadHistory(path);
  }

  return {
    status: 'idle',
    histories: {},
    start(path, options, platform, on) {
      if (get().status === 'running') return;
      logLines.length = 0;
      for (const listener of logListeners) listener('\x1bc');
      set({ path, status: 'running', phase: undefined, progress: undefined, pull: undefined, result: undefined, smoke: undefined, error: undefined, startedAt: Date.now(), finishedAt: undefined });
      stop = subscribe(
        'build.run',
        { path, ...(options && Object.keys(options).length ? { options } : {}), ...(platform ? { platform } : {}), ...(on ? { on } : {}) },
        (event) => {
          switch (event.type) {
            case 'phase':
              set({ phase: event.phase });
              break;
            case 'log':
              writeLine(styled(event));
              break;
            case 'pull':
              set({ pull: { currentBytes: event.currentBytes, totalBytes: event.totalBytes, layers: event.layers } });
              break;
            case 'progress':
              set({ progress: { step: event.step, total: event.total, instruction: event.instruction } });
              break;
            case 'result':
              set({ result: event });
              break;
            case 'smoke':
              set({ smoke: event.result });
              break;
          }
        },
        (error) => {
          if (get().status !== 'running') return;
          if (error) writeLine(`${ansi.red}${ansi.bold}✗ ${error.kind}${ansi.reset}${ansi.red} ${error.message.replaceAll('\n', '\r\n  ')}${ansi.reset}`);
          else writeLine(`${ansi.green}${ansi.bold}✓ Done${ansi.reset}`);
          finish(error ? (error.kind === 'Cancelled' ? 'cancelled' : 'failed') : 'succeeded', error);
        },
      );
    },
    cancel() {
      if (get().status !== 'running' || !stop) return;
      // Unsubscribing is the cancel: the main process aborts the build and removes what it started.
      stop();
      writeLine(`${ansi.yellow}${ansi.bold}■ Cancelled${ansi.reset}`);
      finish('cancelled');
      // The cancelled build is recorded once Docker has stopped; look again shortly.
      const path = get().path;
      if (path) setTimeout(() => void get().loadHistory(path), 2000);
    },
    async loadHistory(path) {
      try {
        const history = await call('build.list', { path, limit: 20 });
        set({ histories: { ...get().histories, [path]: history } });
      } catch {
        /* the history is a convenience; the page works without it */
      }
    },
  };
});
