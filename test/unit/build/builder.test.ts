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
});
