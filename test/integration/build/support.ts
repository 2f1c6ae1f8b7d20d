import { cpSync, mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import Docker from 'dockerode';
import type { BuildEvent } from '../../../shared/build';

export const FIXTURES = path.resolve(__dirname, '../../fixtures');
/** Debian's Python (python3-sklearn, -pandas, -joblib, -numpy): the same versions as the base image's. */
export const DEBIAN_PYTHON = '/usr/bin/python3';
export const TEST_BASE_IMAGE = 'berth-base/python:{python}-bookworm';
export const docker = new Docker({ socketPath: '/var/run/docker.sock' });

/**
 * A scratch copy of a fixture in a folder named `name`: the project slug (and so the image name
 * berth/<name>) is unique to the test run, and tests may change files.
 */
export function copyFixtureAs(fixture: string, name: string): string {
  const parent = mkdtempSync(path.join(os.tmpdir(), 'berth-build-it-'));
  const dest = path.join(parent, name);
  cpSync(path.join(FIXTURES, fixture), dest, { recursive: true });
  return dest;
}

/** Changes one code cell of a notebook on disk (a "code-only" edit). */
export function editCell(notebookPath: string, cell: number, edit: (source: string) => string): void {
  const nb = JSON.parse(readFileSync(notebookPath, 'utf8'));
  const c = nb.cells[cell];
  const source = Array.isArray(c.source) ? c.source.join('') : c.source;
  c.source = edit(source);
  writeFileSync(notebookPath, JSON.stringify(nb, null, 1));
}

export interface ParsedStep {
  step: number;
  instruction: string;
  cached: boolean;
  layer: string | null;
}

/** Collects a build's events and reads the Docker steps back out of the log lines. */
export function recorder() {
  const events: BuildEvent[] = [];
  return {
    events,
    emit: (e: BuildEvent) => void events.push(e),
    of: <T extends BuildEvent['type']>(type: T) => events.filter((e): e is Extract<BuildEvent, { type: T }> => e.type === type),
    steps(): ParsedStep[] {
      const steps: ParsedStep[] = [];
      for (const e of events) {
        if (e.type !== 'log' || e.source !== 'docker') continue;
        const m = /^Step (\d+)\/\d+ : (.*)$/.exec(e.line);
        if (m) steps.push({ step: Number(m[1]), instruction: m[2], cached: false, layer: null });
        else if (steps.length && e.line === ' ---> Using cache') steps.at(-1)!.cached = true;
        else if (steps.length && /^ ---> [0-9a-f]{12}$/.test(e.line)) steps.at(-1)!.layer = e.line.slice(6);
      }
      return steps;
    },
  };
}

/** Removes every container and image labelled with one of the projects (smoke containers, built images). */
export async function removeProjects(names: string[]): Promise<void> {
  for (const name of names) {
    const filters = { label: [`berth.project=${name}`] };
    for (const c of await docker.listContainers({ all: true, filters })) await docker.getContainer(c.Id).remove({ force: true }).catch(() => undefined);
    for (const img of await docker.listImages({ filters })) await docker.getImage(img.Id).remove({ force: true }).catch(() => undefined);
  }
}

export const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)];
