/**
 * The reviewed Dockerfile and requirements, kept in the project's `.berth/` folder: saving or resetting them in the
 * app writes them there, so they are committed with the notebook and every Berth (a CI runner's too) builds exactly
 * what was reviewed. This data folder's copy of an edit is only a cache of these files.
 */
import fs from 'node:fs/promises';
import path from 'node:path';
import type { EditableFile } from '../../../../shared/build';
import { BerthError } from '../../../../shared/errors';
import { REVIEWED_DIR } from '../../../../shared/project-file';
import { SampleIO } from '../../../../shared/project';

export const REVIEWED_NAMES: Record<EditableFile, string> = { dockerfile: 'Dockerfile', requirements: 'requirements.txt' };
const FILES = Object.keys(REVIEWED_NAMES) as EditableFile[];

/** `.berth/Dockerfile` (relative, for messages). */
export const reviewedName = (file: EditableFile) => `${REVIEWED_DIR}/${REVIEWED_NAMES[file]}`;

const fullPath = (root: string, file: EditableFile) => path.join(root, REVIEWED_DIR, REVIEWED_NAMES[file]);

/** The reviewed files the project holds (a file it lacks is absent from the answer). */
export async function readReviewedFiles(root: string): Promise<Partial<Record<EditableFile, string>>> {
  const found: Partial<Record<EditableFile, string>> = {};
  for (const file of FILES) {
    const text = await fs.readFile(fullPath(root, file), 'utf8').catch((err: NodeJS.ErrnoException) => {
      if (err.code === 'ENOENT') return undefined;
      throw new BerthError('ProjectInvalid', `Berth cannot read ${reviewedName(file)} in ${root}: ${err.message}`);
    });
    if (text !== undefined) found[file] = text;
  }
  return found;
}

/** Writes each file whose text differs from the project's (temp file + rename); returns the ones written. */
export async function writeReviewedFiles(root: string, texts: Record<EditableFile, string>): Promise<EditableFile[]> {
  const current = await readReviewedFiles(root);
  const changed = FILES.filter((file) => current[file] !== texts[file]);
  if (!changed.length) return [];
  await fs.mkdir(path.join(root, REVIEWED_DIR), { recursive: true });
  for (const file of changed) {
    const target = fullPath(root, file);
    const temp = `${target}.${process.pid}.tmp`;
    await fs.writeFile(temp, texts[file]);
    await fs.rename(temp, target);
  }
  return changed;
}

/** The reviewed sample and the answer the notebook gave for it: the smoke test's measure where the notebook cannot run. */
export const REVIEWED_SAMPLE = `${REVIEWED_DIR}/sample.json`;

export async function readReviewedSample(root: string): Promise<SampleIO | null> {
  const text = await fs.readFile(path.join(root, REVIEWED_SAMPLE), 'utf8').catch((err: NodeJS.ErrnoException) => (err.code === 'ENOENT' ? null : Promise.reject(err)));
  if (text === null) return null;
  const parsed = SampleIO.safeParse(JSON.parse(text));
  if (!parsed.success) throw new BerthError('ProjectInvalid', `${REVIEWED_SAMPLE} in ${root} is not a sample Berth wrote: ${parsed.error.issues[0]?.message}. Delete it and save the reviewed files again in Berth.`);
  return parsed.data;
}

export async function writeReviewedSample(root: string, sample: SampleIO): Promise<void> {
  const target = path.join(root, REVIEWED_SAMPLE);
  const text = `${JSON.stringify(sample, null, 2)}\n`;
  if ((await fs.readFile(target, 'utf8').catch(() => null)) === text) return;
  await fs.mkdir(path.dirname(target), { recursive: true });
  await fs.writeFile(`${target}.${process.pid}.tmp`, text);
  await fs.rename(`${target}.${process.pid}.tmp`, target);
}
