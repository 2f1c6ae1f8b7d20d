/**
 * The packaged app's layout, built here as electron-builder would from electron-builder.yml (extraResources under
 * resources/, asarUnpack'd files under resources/app.asar.unpacked/), and every run-time lookup of an installed file
 * (electron/main/services/resources.ts) pointed at it. A lookup that found nothing there would fall back to this
 * repo, so each answer must lie inside the layout.
 */
import { cpSync, existsSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { defaultWrapperPath } from '../../../electron/main/services/build/context';
import { gatewayContextFiles, gatewaySourceDir } from '../../../electron/main/services/gateway/image';
import { installedExampleDir } from '../../../electron/main/services/project/example';
import { defaultHelperDir } from '../../../electron/main/services/project/python';
import { RESOURCES, type ResourceName, resourcePath } from '../../../electron/main/services/resources';
import { nativeBinding } from '../../../electron/main/services/store/database';

const repo = path.resolve(__dirname, '../../..');
const OVERRIDES = ['BERTH_GATEWAY_SOURCES', 'BERTH_PYTHON_HELPERS', 'BERTH_SERVING_WRAPPER'];

interface BuilderConfig {
  files: string[];
  asarUnpack: string[];
  extraResources: { from: string; to: string; filter?: string[] }[];
}

const config = parse(readFileSync(path.join(repo, 'electron-builder.yml'), 'utf8')) as BuilderConfig;

/** electron-builder's patterns as far as the config uses them: `**`, `*`, `{a,b}`, a leading `!` to exclude. */
function globToRegExp(glob: string): RegExp {
  let re = '';
  for (let i = 0; i < glob.length; i++) {
    const rest = glob.slice(i);
    if (rest.startsWith('**/')) (re += '(?:.*/)?'), (i += 2);
    else if (rest === '/**') (re += '(?:/.*)?'), (i += 2);
    else if (rest.startsWith('**')) (re += '.*'), (i += 1);
    else if (glob[i] === '*') re += '[^/]*';
    else if (glob[i] === '{') {
      const end = glob.indexOf('}', i);
      re += `(?:${glob.slice(i + 1, end).split(',').map(escape).join('|')})`;
      i = end;
    } else re += escape(glob[i]);
  }
  return new RegExp(`^${re}$`);
}

const escape = (s: string) => s.replace(/[.+?^$()|[\]\\]/g, '\\$&');

/** Whether `rel` is taken by `patterns`: some positive one matches and no exclusion does. */
function selected(rel: string, patterns: string[]): boolean {
  const matches = (p: string) => globToRegExp(p).test(rel);
  return patterns.some((p) => !p.startsWith('!') && matches(p)) && !patterns.some((p) => p.startsWith('!') && matches(p.slice(1)));
}

function filesUnder(dir: string, prefix = ''): string[] {
  return readdirSync(dir, { withFileTypes: true }).flatMap((e) =>
    e.isDirectory() ? filesUnder(path.join(dir, e.name), `${prefix}${e.name}/`) : [`${prefix}${e.name}`],
  );
}

function copySelected(fromDir: string, toDir: string, pick: (rel: string) => boolean): void {
  for (const rel of filesUnder(fromDir).filter(pick)) {
    mkdirSync(path.dirname(path.join(toDir, rel)), { recursive: true });
    cpSync(path.join(fromDir, rel), path.join(toDir, rel));
  }
}

/** resources/ of a packaged app, from the config. */
function packagedLayout(root: string): string {
  const resources = path.join(root, 'resources');
  for (const entry of config.extraResources) {
    copySelected(path.join(repo, entry.from), path.join(resources, entry.to), (rel) => selected(rel, entry.filter ?? ['**/*']));
  }
  const exclusions = config.files.filter((p) => p.startsWith('!'));
  const sqlite = 'node_modules/better-sqlite3';
  copySelected(path.join(repo, sqlite), path.join(resources, 'app.asar.unpacked', sqlite), (rel) =>
    selected(`${sqlite}/${rel}`, [...config.asarUnpack, ...exclusions]),
  );
  return resources;
}

describe('the packaged app finds every file it reads from its installation', () => {
  let root: string;
  let resources: string;
  const saved: Record<string, string | undefined> = {};
  const proc = process as { resourcesPath?: string };

  beforeAll(() => {
    root = mkdtempSync(path.join(tmpdir(), 'berth-packaged-'));
    resources = packagedLayout(root);
    for (const name of OVERRIDES) (saved[name] = process.env[name]), delete process.env[name];
    proc.resourcesPath = resources;
  });

  afterAll(() => {
    delete proc.resourcesPath;
    for (const name of OVERRIDES) if (saved[name] !== undefined) process.env[name] = saved[name];
    rmSync(root, { recursive: true, force: true });
  });

  const inLayout = (p: string | undefined) => {
    expect(p).toBeDefined();
    expect(existsSync(p!)).toBe(true);
    expect(path.relative(resources, p!).startsWith('..')).toBe(false);
  };

  it.each(Object.keys(RESOURCES) as ResourceName[])('%s is shipped where resources.ts looks for it', (name) => {
    inLayout(resourcePath(name, RESOURCES[name].probe));
  });

  it('each service lookup answers with the packaged copy', () => {
    inLayout(path.join(gatewaySourceDir(), 'go.mod'));
    inLayout(path.join(defaultHelperDir(), 'berth_project.py'));
    inLayout(defaultWrapperPath());
    inLayout(installedExampleDir());
    inLayout(nativeBinding({ electron: '39.0.0' }, () => ({ dir: '/nowhere/better-sqlite3', version: '0' })));
  });

  it('the packaged gateway sources hold every file its image is made of', () => {
    expect(gatewayContextFiles(gatewaySourceDir())).toEqual(gatewayContextFiles(path.join(repo, 'resources/gateway')));
  });

  it('the packaged example project holds its notebook, its model file, its berth.toml and its reviewed files', () => {
    const shipped = filesUnder(installedExampleDir()!);
    expect(shipped).toEqual(filesUnder(path.join(repo, 'resources/example/iris-classifier')));
    // The reviewed requirements and sample let a Python without scikit-learn build it: the image installs them.
    expect(shipped).toEqual(expect.arrayContaining(['iris_classifier.ipynb', 'model.joblib', 'berth.toml', '.berth/requirements.txt', '.berth/sample.json']));
  });

  it('no service reads process.resourcesPath but resources.ts', () => {
    const main = path.join(repo, 'electron/main');
    const readers = filesUnder(main)
      .filter((rel) => rel.endsWith('.ts') && readFileSync(path.join(main, rel), 'utf8').includes('resourcesPath'))
      .filter((rel) => rel !== 'services/resources.ts');
    expect(readers).toEqual([]);
  });
});
