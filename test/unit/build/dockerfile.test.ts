import { describe, expect, it } from 'vitest';
import {
  aptPackagesFor,
  baseImageFor,
  generateDockerfile,
  generateFiles,
  generateMetadata,
  generateRequirements,
} from '../../../electron/main/services/build/dockerfile';
import { BerthError } from '../../../shared/errors';
import { dep, fakeAnalysis, fileRef } from './analysis';

const settings = { baseImage: 'berth-base/python:{python}-bookworm' };

/** Index of the first line matching, failing the test when there is none. */
function lineOf(text: string, pattern: RegExp): number {
  const i = text.split('\n').findIndex((l) => pattern.test(l));
  expect(i, `no line matches ${pattern}`).toBeGreaterThanOrEqual(0);
  return i;
}

describe('Dockerfile generation', () => {
  it('is deterministic: the same analysis gives the same bytes, whatever order the dependencies come in', () => {
    const a = fakeAnalysis();
    const shuffled = fakeAnalysis({ dependencies: [...a.dependencies].reverse(), analyzedAt: '2030-05-05T00:00:00.000Z' });
    expect(generateFiles(a, settings)).toEqual(generateFiles(a, settings));
    expect(generateFiles(shuffled, settings)).toEqual(generateFiles(a, settings));
    expect(generateDockerfile(a, settings)).not.toMatch(/\d{4}-\d{2}-\d{2}T/); // no timestamps
  });

  it('fills the base image template with major.minor of the project Python', () => {
    expect(baseImageFor('python:{python}-slim', '3.11.2')).toBe('python:3.11-slim');
    expect(baseImageFor('python:{python}-slim', '3.9.18')).toBe('python:3.9-slim');
    expect(generateDockerfile(fakeAnalysis(), settings).split('\n')).toContain('FROM berth-base/python:3.11-bookworm');
    expect(() => baseImageFor('python:{python}', 'unknown')).toThrow(BerthError);
  });

  it('orders layers so dependencies come before code, and code last', () => {
    const a = fakeAnalysis({
      dependencies: [dep('lightgbm', '4.1.0'), dep('numpy', '1.24.2')],
      localModules: ['helpers.py'],
      files: { models: [fileRef('model.joblib', 'model')], data: [fileRef('data/train.csv', 'data')] },
    });
    const d = generateDockerfile(a, settings);
    const order = [
      lineOf(d, /^FROM /),
      lineOf(d, /^RUN apt-get update/),
      lineOf(d, /^COPY requirements\.txt /),
      lineOf(d, /python3 -m pip install --no-cache-dir -r /),
      lineOf(d, /^RUN useradd .* berth$/),
      lineOf(d, /^COPY \["berth\/berth_serve\.py"/),
      lineOf(d, /^COPY \["project\/model\.joblib","\/app\/model\.joblib"\]$/),
      lineOf(d, /^COPY \["project\/data\/train\.csv","\/app\/data\/train\.csv"\]$/),
      lineOf(d, /^COPY \["project\/helpers\.py","\/app\/helpers\.py"\]$/),
      lineOf(d, /^COPY \["berth\/berth_model\.py","\/app\/berth_model\.py"\]$/),
      lineOf(d, /^ENV BERTH_MODULE=berth_model/),
      lineOf(d, /^USER berth$/),
      lineOf(d, /^HEALTHCHECK /),
      lineOf(d, /^CMD \["python3","berth_serve\.py"\]$/),
    ];
    expect(order).toEqual([...order].sort((x, y) => x - y));
    expect(d.trimEnd().split('\n').at(-1)).toBe('CMD ["python3","berth_serve.py"]');
  });

  it('sets the wrapper environment from the analysis', () => {
    const d = generateDockerfile(fakeAnalysis({ name: 'churn', entrypoint: 'score' }), settings);
    for (const env of ['BERTH_MODULE=berth_model', 'BERTH_ENTRYPOINT=score', 'BERTH_MODEL_NAME=churn', 'BERTH_METADATA_FILE=/app/berth_metadata.json', 'PORT=8080']) {
      expect(d).toContain(env);
    }
  });

  it('probes /readyz with Python, not curl (the base image may have no curl)', () => {
    const d = generateDockerfile(fakeAnalysis(), settings);
    const health = d.slice(d.indexOf('HEALTHCHECK'));
    expect(health).toMatch(/CMD \["python3","-c","import os, urllib\.request; urllib\.request\.urlopen\('http:\/\/127\.0\.0\.1:%s\/readyz'/);
    expect(d).not.toMatch(/curl|wget/);
  });

  it('lets pip run against Debian system packages without touching them', () => {
    const d = generateDockerfile(fakeAnalysis(), settings);
    expect(d).toMatch(/RUN PIP_BREAK_SYSTEM_PACKAGES=1 .*\\\n\s+python3 -m pip install --no-cache-dir -r \/app\/requirements\.txt/);
  });

  it('installs the Debian libraries the table knows, plus apt.txt, and nothing when none are needed', () => {
    expect(aptPackagesFor(fakeAnalysis()).packages).toEqual([]);
    expect(generateDockerfile(fakeAnalysis(), settings)).not.toContain('apt-get');

    const gbm = fakeAnalysis({ dependencies: [dep('LightGBM', '4.1.0'), dep('xgboost', '2.0.0')] });
    expect(aptPackagesFor(gbm).packages).toEqual(['libgomp1']);
    const cv = fakeAnalysis({
      dependencies: [dep('opencv-python', '4.8.0.76', { imports: ['cv2'] })],
      envFiles: { found: ['apt.txt'], requirements: [], python: [], aptPackages: ['ffmpeg', 'bad; rm -rf /'], conda: null },
    });
    expect(aptPackagesFor(cv).packages).toEqual(['ffmpeg', 'libgl1', 'libglib2.0-0']);
    expect(generateDockerfile(cv, settings)).toContain(' && apt-get install -y --no-install-recommends ffmpeg libgl1 libglib2.0-0 \\');
    expect(generateDockerfile(cv, settings)).not.toContain('bad;');
    // a dependency that cannot be installed (unresolved) brings no library
    expect(aptPackagesFor(fakeAnalysis({ dependencies: [dep('lightgbm', null)] })).packages).toEqual([]);
  });

  it('copies only files that exist inside the project and are not LFS pointers', () => {
    const a = fakeAnalysis({
      files: {
        models: [
          fileRef('model.joblib', 'model'),
          fileRef('model.joblib', 'model'),
          fileRef('gone.pkl', 'model', { exists: false }),
          fileRef('big.bin', 'model', { lfsPointer: true }),
          fileRef('/Users/alice/x.pkl', 'model', { projectPath: null }),
        ],
        data: [],
      },
    });
    const copies = generateDockerfile(a, settings)
      .split('\n')
      .filter((l) => l.startsWith('COPY ["project/'));
    expect(copies).toEqual(['COPY ["project/model.joblib","/app/model.joblib"]']);
  });

  it('runs the code in the notebook folder when the notebook sits in a subfolder', () => {
    const d = generateDockerfile(fakeAnalysis({ notebook: 'notebooks/model.ipynb', localModules: ['lib/features.py'] }), settings);
    expect(d).toContain('COPY ["berth/berth_model.py","/app/notebooks/berth_model.py"]');
    expect(d).toContain('WORKDIR /app/notebooks');
    expect(d).toContain('PYTHONPATH=/app');
    expect(d).toContain('COPY ["project/lib/features.py","/app/lib/features.py"]');
  });

  it('refuses to generate without an entrypoint', () => {
    const error = (() => {
      try {
        generateDockerfile(fakeAnalysis({ entrypoint: null }), settings);
      } catch (e) {
        return e;
      }
    })();
    expect(error).toBeInstanceOf(BerthError);
    expect((error as BerthError).kind).toBe('ProjectInvalid');
  });

  it('a code-only change leaves the Dockerfile and requirements byte for byte the same', () => {
    const before = fakeAnalysis();
    const after = fakeAnalysis({
      notebookHash: 'b'.repeat(64),
      module: { ...before.module, source: 'def predict(inputs):\n    return [1 for _ in inputs]\n' },
    });
    expect(generateFiles(after, settings)).toEqual(generateFiles(before, settings));
  });
});

describe('requirements.txt', () => {
  it('lists the resolved requirements, pinned and sorted; unresolved ones are left out', () => {
    const a = fakeAnalysis({
      dependencies: [dep('scikit-learn', '1.2.1'), dep('lightgbm', null), dep('Pandas', '1.5.3'), dep('joblib', '1.2.0'), dep('pandas', '1.5.3')],
    });
    const lines = generateRequirements(a).split('\n').filter((l) => l && !l.startsWith('#'));
    expect(lines).toEqual(['joblib==1.2.0', 'Pandas==1.5.3', 'scikit-learn==1.2.1']);
    expect(generateRequirements(a).endsWith('\n')).toBe(true);
  });

  it('keeps a range when the analysis could not pin (nothing installed)', () => {
    const a = fakeAnalysis({ dependencies: [dep('requests', null, { requirement: 'requests>=2', specifier: '>=2', status: 'unpinned' })] });
    expect(generateRequirements(a)).toContain('\nrequests>=2\n');
  });
});

describe('metadata file', () => {
  it('names the project, notebook hash and the packages actually built with', () => {
    const meta = JSON.parse(generateMetadata(fakeAnalysis(), '# comment\nnumpy==1.24.2\n\n-r other.txt\nscikit-learn==1.2.1\n'));
    expect(meta).toEqual({
      project: 'iris',
      notebook: 'model.ipynb',
      notebookSha256: 'a'.repeat(64),
      entrypoint: 'predict',
      python: '3.11.2',
      packages: ['numpy==1.24.2', 'scikit-learn==1.2.1'],
    });
  });
});
