/**
 * The files Berth reads from its own installation at run time, and the one place that knows where they are: in a
 * packaged app under `process.resourcesPath` (where electron-builder.yml's extraResources and asarUnpack put them),
 * else in the repo checkout the code runs from (`npm start`, `npm run web`, the CLI, tests).
 *
 * Every lookup goes through this table, so test/unit/packaging/layout.test.ts can check each entry against the
 * packaged layout: a resource added here but not shipped by electron-builder.yml fails that test.
 */
import { existsSync } from 'node:fs';
import path from 'node:path';
import { fileURLToPath } from 'node:url';

export interface Resource {
  /** Its folder under `process.resourcesPath` in a packaged app. */
  packaged: string;
  /** Its folder in the repo checkout; null: nothing to fall back to (the caller has its own default). */
  repo: string | null;
  /** A file inside it that must be there; the test checks it in the packaged layout. */
  probe: string;
}

export const RESOURCES = {
  /** The gateway's Go sources, built into its image (services/gateway/image.ts). */
  gateway: { packaged: 'gateway', repo: 'resources/gateway', probe: 'go.mod' },
  /** berth_project.py, run under the project's interpreter (services/project/python.ts). */
  python: { packaged: 'python', repo: 'resources/python', probe: 'berth_project.py' },
  /** The example notebook project, copied into the data folder to be opened (services/project/example.ts). */
  example: { packaged: 'example', repo: 'resources/example', probe: 'iris-classifier/iris_classifier.ipynb' },
  /** berth_serve.py, copied into every build context (services/build/context.ts). */
  serving: { packaged: 'serving', repo: 'resources/serving', probe: 'berth_serve.py' },
  /** better-sqlite3 unpacked from app.asar, its addon rebuilt for Electron by electron-builder (services/store/database.ts). */
  sqlite: { packaged: 'app.asar.unpacked/node_modules/better-sqlite3', repo: null, probe: 'build/Release/better_sqlite3.node' },
} satisfies Record<string, Resource>;

export type ResourceName = keyof typeof RESOURCES;

/**
 * The first existing `<resource>/<parts>`: the packaged copy first, then the repo's. Undefined when neither exists.
 * In development Electron sets `process.resourcesPath` too (to its own dist), which holds none of these.
 */
export function resourcePath(name: ResourceName, ...parts: string[]): string | undefined {
  return resourceCandidates(name).map((dir) => path.join(dir, ...parts)).find((p) => existsSync(p));
}

/** Where `name` may be, in order. */
export function resourceCandidates(name: ResourceName): string[] {
  const resource: Resource = RESOURCES[name];
  const candidates: string[] = [];
  const packaged = (process as { resourcesPath?: string }).resourcesPath;
  if (packaged) candidates.push(path.join(packaged, resource.packaged));
  if (resource.repo) for (const root of repoRoots()) candidates.push(path.join(root, resource.repo));
  return candidates;
}

/** This file's folder and its parents (the source tree, or out/main of a build), then the working directory. */
function repoRoots(): string[] {
  const roots: string[] = [];
  try {
    let dir = path.dirname(fileURLToPath(import.meta.url));
    for (let i = 0; i < 8; i++) {
      roots.push(dir);
      dir = path.dirname(dir);
    }
  } catch {
    /* bundled without a file URL: the working directory remains */
  }
  roots.push(process.cwd());
  return roots;
}
