import { PassThrough, Readable } from 'node:stream';
import type Docker from 'dockerode';
import { describe, expect, it } from 'vitest';
import { buildImage, type BuildStep } from '../../../electron/main/services/build/builder';
import { BerthError } from '../../../shared/errors';

/** A Docker client whose build answers with the given JSON messages (split at awkward places, as sockets do). */
function fakeDocker(messages: object[], opts: { hang?: boolean; tagged?: string[] } = {}) {
  const removed: string[] = [];
  let buildOptions: Record<string, unknown> = {};
  const docker = {
    buildImage: async (_tar: Readable, options: Record<string, unknown>) => {
      buildOptions = options;
      const out = new PassThrough();
      const text = messages.map((m) => JSON.stringify(m) + '\r\n').join('');
      const signal = options.abortSignal as AbortSignal;
      signal.addEventListener('abort', () => out.destroy(new Error('aborted')));
      (async () => {
        for (let i = 0; i < text.length; i += 7) {
          out.write(text.slice(i, i + 7));
          await new Promise((r) => setImmediate(r));
        }
        if (!opts.hang) out.end();
      })();
      return out;
    },
    getImage: (tag: string) => ({
      inspect: async () => {
        if (!opts.tagged?.includes(tag)) throw new Error('no such image');
        return { Id: 'sha256:abc' };
      },
      remove: async () => void removed.push(tag),
    }),
  } as unknown as Docker;
  return { docker, removed, options: () => buildOptions };
}

const ok = [
  { stream: 'Step 1/3 : FROM base\n' },
  { stream: ' ---> ca41d9a5fb55\n' },
  { stream: 'Step 2/3 : RUN python3 -m pip install -r requirements.txt\n' },
  { stream: ' ---> Using cache\n ---> a80c8afcbdc8\n' },
  { stream: 'Step 3/3 : COPY berth_model.py /app/\n' },
  { stream: ' ---> 55b4b9e16366\n' },
  { aux: { ID: 'sha256:55b4b9e16366aaaa' } },
  { stream: 'Successfully built 55b4b9e16366\n' },
  { stream: 'Successfully tagged berth/iris:b1\n' },
];

describe('docker build streaming', () => {
  it('passes every line on, counts steps, notes cached ones and returns the image id', async () => {
    const { docker, options } = fakeDocker(ok);
    const lines: string[] = [];
    const progress: BuildStep[] = [];
    const result = await buildImage({
      docker,
      tar: Readable.from([]),
      tag: 'berth/iris:b1',
      labels: { 'berth.project': 'iris' },
      onLine: (l) => lines.push(l),
      onProgress: (s) => progress.push({ ...s }),
    });
    expect(result.imageId).toBe('sha256:55b4b9e16366aaaa');
    expect(lines).toContain('Step 2/3 : RUN python3 -m pip install -r requirements.txt');
    expect(lines).toContain(' ---> Using cache');
    expect(progress.map((p) => [p.step, p.total])).toEqual([
      [1, 3],
      [2, 3],
      [3, 3],
    ]);
    expect(result.steps.map((s) => [s.cached, s.layer])).toEqual([
      [false, 'ca41d9a5fb55'],
      [true, 'a80c8afcbdc8'],
      [false, '55b4b9e16366'],
    ]);
    expect(options()).toMatchObject({ t: 'berth/iris:b1', labels: { 'berth.project': 'iris' }, rm: true, forcerm: true });
  });

  it('fails with the failing step and the log tail', async () => {
    const { docker } = fakeDocker([
      { stream: 'Step 1/3 : FROM base\n ---> ca41d9a5fb55\n' },
      { stream: 'Step 2/3 : RUN python3 -m pip install -r requirements.txt\n' },
      { stream: 'ERROR: No matching distribution found for torch==9.9\n' },
      { errorDetail: { code: 1, message: "The command '/bin/sh -c python3 -m pip install -r requirements.txt' returned a non-zero code: 1" }, error: 'returned 1' },
    ]);
    const error = await buildImage({ docker, tar: Readable.from([]), tag: 't', labels: {} }).catch((e) => e);
    expect(error).toBeInstanceOf(BerthError);
    expect(error.kind).toBe('BuildFailed');
    expect(error.message).toBe(
      "The image build failed at step 2/3 (RUN python3 -m pip install -r requirements.txt): The command '/bin/sh -c python3 -m pip install -r requirements.txt' returned a non-zero code: 1.",
    );
    expect(error.detail.step).toMatchObject({ step: 2, total: 3 });
    expect(error.detail.logTail).toContain('No matching distribution found for torch==9.9');
  });

  it('points at the base image setting when FROM fails', async () => {
    const { docker } = fakeDocker([{ stream: 'Step 1/9 : FROM python:3.11-slim\n' }, { error: 'pull access denied', errorDetail: { message: 'pull access denied' } }]);
    const error = await buildImage({ docker, tar: Readable.from([]), tag: 't', labels: {} }).catch((e) => e);
    expect(error.message).toMatch(/step 1\/9 \(FROM python:3\.11-slim\): pull access denied\. Check the base image setting/);
  });

  it('on cancel stops reading, rejects with Cancelled and removes a tag the daemon managed to write', async () => {
    const { docker, removed } = fakeDocker([{ stream: 'Step 1/3 : FROM base\n' }], { hang: true, tagged: ['berth/iris:b2'] });
    const controller = new AbortController();
    const pending = buildImage({ docker, tar: Readable.from([]), tag: 'berth/iris:b2', labels: {}, signal: controller.signal, onLine: () => controller.abort() });
    const error = await pending.catch((e) => e);
    expect(error).toBeInstanceOf(BerthError);
    expect(error.kind).toBe('Cancelled');
    expect(removed).toEqual(['berth/iris:b2']);
  });

  it('gives up after its time limit', async () => {
    const { docker } = fakeDocker([{ stream: 'Step 1/3 : FROM base\n' }], { hang: true });
    const error = await buildImage({ docker, tar: Readable.from([]), tag: 't', labels: {}, timeoutMs: 50 }).catch((e) => e);
    expect(error.kind).toBe('BuildFailed');
    expect(error.message).toBe('The image build took longer than 1 s and was stopped.');
  });

  it('sums the base image pull over its layers for the progress bar, without a log line per download message', async () => {
    const pulling = [
      { stream: 'Step 1/2 : FROM python:3.11-slim\n' },
      { status: 'Pulling from library/python', id: '3.11-slim' },
      { status: 'Pulling fs layer', id: 'aaa' },
      { status: 'Pulling fs layer', id: 'bbb' },
      ...Array.from({ length: 50 }, (_, i) => ({ status: 'Downloading', id: 'aaa', progressDetail: { current: (i + 1) * 1000, total: 50_000 }, progress: '[=>  ]' })),
      { status: 'Downloading', id: 'bbb', progressDetail: { current: 10, total: 2000 } },
      { status: 'Download complete', id: 'aaa' },
      { status: 'Download complete', id: 'bbb' },
      { status: 'Extracting', id: 'aaa', progressDetail: { current: 100, total: 50_000 } },
      { status: 'Pull complete', id: 'aaa' },
      { status: 'Pull complete', id: 'bbb' },
      ...ok.slice(2),
    ];
    const { docker } = fakeDocker(pulling);
    const lines: string[] = [];
    const pulls: Array<{ currentBytes: number; totalBytes: number; layers: number }> = [];
    await buildImage({ docker, tar: Readable.from([]), tag: 'berth/iris:b1', labels: {}, onLine: (l) => lines.push(l), onPull: (p) => pulls.push(p) });
    expect(pulls.at(-1)).toEqual({ currentBytes: 52_000, totalBytes: 52_000, layers: 2 });
    // Throttled: far fewer reports than Docker's 51 download messages, but the first and every completion.
    expect(pulls.length).toBeLessThan(20);
    expect(pulls[0]).toEqual({ currentBytes: 1000, totalBytes: 50_000, layers: 1 });
    expect(lines.filter((l) => l.startsWith('Downloading') || l.startsWith('Extracting'))).toEqual([]);
    expect(lines).toContain('Pull complete aaa');
    expect(lines).toContain('Pulling from library/python 3.11-slim');
  });
});
