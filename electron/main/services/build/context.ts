/**
 * The Docker build context: assembled in a temp folder (the user's project is only read), hashed, and streamed to
 * the engine as a tar with fixed metadata, so the same inputs always give the same bytes and the same hash.
 */
import { createHash } from 'node:crypto';
import { createReadStream, existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { Readable } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { pack as tarPack } from 'tar-stream';
import { BerthError } from '../../../../shared/errors';
import type { ProjectAnalysis } from '../../../../shared/project';
import { IGNORED_DIRS } from '../project/discover';
import { resourceCandidates } from '../resources';
import {
  DOCKERIGNORE,
  GENERATED_DIR,
  generateMetadata,
  METADATA_FILE,
  MODULE_NAME,
  PROJECT_DIR,
  projectFilesFor,
  WRAPPER_FILE,
} from './dockerfile';

export interface ContextInput {
  analysis: ProjectAnalysis;
  /** The Dockerfile and requirements the build uses (the user's edits when there are any). */
  dockerfile: string;
  requirements: string;
  /** resources/serving/berth_serve.py */
  wrapperPath: string;
}

export interface BuildContext {
  dir: string;
  /** sha256 (hex) over every path and content in the context. */
  hash: string;
  /** Relative posix paths of the files, sorted. */
  files: string[];
  sizeBytes: number;
  /** A fresh tar stream of the context (deterministic bytes). */
  tar(): Readable;
  dispose(): Promise<void>;
}

const FIXED_MTIME = new Date(Date.UTC(2000, 0, 1));

/** berth_serve.py: BERTH_SERVING_WRAPPER, else the packaged app's or the repo's (services/resources.ts). */
export function defaultWrapperPath(): string {
  const candidates = [process.env.BERTH_SERVING_WRAPPER ?? [], resourceCandidates('serving').map((dir) => path.join(dir, WRAPPER_FILE))].flat();
  const found = candidates.find((c) => existsSync(c));
  if (!found) throw new BerthError('Internal', `Berth's serving wrapper (${WRAPPER_FILE}) is missing from the installation; reinstall Berth.`);
  return found;
}

async function copyTree(from: string, to: string, relForErrors: string): Promise<void> {
  const st = await fs.stat(from).catch(() => {
    throw new BerthError('ProjectInvalid', `${relForErrors} disappeared from the project since it was analysed; analyse the project again.`);
  });
  if (st.isDirectory()) {
    await fs.mkdir(to, { recursive: true });
    const entries = await fs.readdir(from, { withFileTypes: true });
    for (const e of entries) {
      if (e.name.startsWith('.') || IGNORED_DIRS.has(e.name)) continue;
      await copyTree(path.join(from, e.name), path.join(to, e.name), `${relForErrors}/${e.name}`);
    }
  } else if (st.isFile()) {
    await fs.mkdir(path.dirname(to), { recursive: true });
    await fs.copyFile(from, to, fs.constants.COPYFILE_FICLONE);
  }
}

async function walk(dir: string, rel = ''): Promise<{ dirs: string[]; files: string[] }> {
  const dirs: string[] = [];
  const files: string[] = [];
  const entries = (await fs.readdir(path.join(dir, rel), { withFileTypes: true })).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
  for (const e of entries) {
    const child = rel ? `${rel}/${e.name}` : e.name;
    if (e.isDirectory()) {
      dirs.push(child);
      const sub = await walk(dir, child);
      dirs.push(...sub.dirs);
      files.push(...sub.files);
    } else if (e.isFile()) files.push(child);
  }
  return { dirs, files };
}

async function sha256File(file: string): Promise<string> {
  const hash = createHash('sha256');
  await pipeline(createReadStream(file), hash);
  return hash.digest('hex');
}

/** Builds the context folder for one build. The caller must `dispose()` it. */
export async function assembleContext(input: ContextInput, tmpRoot = os.tmpdir()): Promise<BuildContext> {
  const { analysis } = input;
  const dir = await fs.mkdtemp(path.join(tmpRoot, 'berth-build-'));
  const dispose = () => fs.rm(dir, { recursive: true, force: true });
  try {
    const write = async (rel: string, text: string) => {
      await fs.mkdir(path.dirname(path.join(dir, rel)), { recursive: true });
      await fs.writeFile(path.join(dir, rel), text);
    };
    await write('Dockerfile', input.dockerfile);
    await write('.dockerignore', DOCKERIGNORE);
    await write('requirements.txt', input.requirements.endsWith('\n') ? input.requirements : `${input.requirements}\n`);
    await write(`${GENERATED_DIR}/${MODULE_NAME}.py`, analysis.module.source);
    await write(`${GENERATED_DIR}/${METADATA_FILE}`, generateMetadata(analysis, input.requirements));
    await fs.mkdir(path.join(dir, GENERATED_DIR), { recursive: true });
    await fs.copyFile(input.wrapperPath, path.join(dir, GENERATED_DIR, WRAPPER_FILE));
    const wanted = projectFilesFor(analysis);
    for (const rel of [...wanted.models, ...wanted.data, ...wanted.modules]) {
      await copyTree(path.join(analysis.root, rel), path.join(dir, PROJECT_DIR, rel), rel);
    }

    const { dirs, files } = await walk(dir);
    const hash = createHash('sha256');
    let sizeBytes = 0;
    const sizes = new Map<string, number>();
    for (const rel of files) {
      const size = (await fs.stat(path.join(dir, rel))).size;
      sizes.set(rel, size);
      sizeBytes += size;
      hash.update(`${rel}\0${size}\0${await sha256File(path.join(dir, rel))}\n`);
    }
    const entries = [...dirs.map((d) => ({ rel: d, dir: true })), ...files.map((f) => ({ rel: f, dir: false }))].sort((a, b) =>
      a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0,
    );

    const tar = (): Readable => {
      const pack = tarPack();
      (async () => {
        for (const e of entries) {
          const common = { name: e.rel, mtime: FIXED_MTIME, uid: 0, gid: 0, uname: '', gname: '' };
          if (e.dir) {
            pack.entry({ ...common, type: 'directory', mode: 0o755 });
            continue;
          }
          const size = sizes.get(e.rel)!;
          await new Promise<void>((resolve, reject) => {
            const sink = pack.entry({ ...common, type: 'file', mode: 0o644, size }, (err) => (err ? reject(err) : resolve()));
            createReadStream(path.join(dir, e.rel)).on('error', reject).pipe(sink);
          });
        }
        pack.finalize();
      })().catch((err) => pack.destroy(err));
      // tar-stream produces a streamx stream; the Docker client wants a Node stream.
      const out = Readable.from(pack, { objectMode: false });
      out.on('close', () => pack.destroy());
      return out;
    };

    return { dir, hash: hash.digest('hex'), files, sizeBytes, tar, dispose };
  } catch (err) {
    await dispose();
    throw err;
  }
}
