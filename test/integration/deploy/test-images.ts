import { execFileSync } from 'node:child_process';
import { copyFileSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { repoRoot } from '../../e2e/harness';

export const BASE_IMAGE = 'berth-base/python:3.11-bookworm';

export interface TestModelOptions {
  /** What predictions say, so a test can tell versions apart. */
  label: string;
  /** Raise while loading: the replica never becomes ready. */
  failAtLoad?: boolean;
  /** Extra random bytes in their own layer, to make a transfer last long enough to interrupt. */
  ballastMb?: number;
}

/**
 * A tiny model image served by Berth's real wrapper, built straight from a Dockerfile (not through the
 * build pipeline) so deploy tests depend only on what they test.
 */
export function buildTestModel(tag: string, options: TestModelOptions): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-test-model-'));
  copyFileSync(join(repoRoot, 'resources/serving/berth_serve.py'), join(dir, 'berth_serve.py'));
  writeFileSync(
    join(dir, 'berth_model.py'),
    [
      options.failAtLoad ? 'raise RuntimeError("model file is corrupt (test)")' : '',
      `LABEL = ${JSON.stringify(options.label)}`,
      'def predict(inputs):',
      '    return {"label": LABEL, "echo": inputs}',
      '',
    ].join('\n'),
  );
  const ballast = options.ballastMb ? `RUN head -c ${options.ballastMb}M /dev/urandom > /ballast.bin\n` : '';
  writeFileSync(
    join(dir, 'Dockerfile'),
    `FROM ${BASE_IMAGE}\n${ballast}WORKDIR /app\nCOPY berth_serve.py berth_model.py /app/\nCMD ["python3", "berth_serve.py"]\n`,
  );
  execFileSync('docker', ['build', '-q', '-t', tag, dir], { stdio: 'pipe' });
  return tag;
}

export function removeLocalImage(tag: string): void {
  execFileSync('docker', ['rmi', '-f', tag], { stdio: 'ignore' });
}
