/**
 * Runs one `docker build` on the local engine (classic builder over the API): streams the output line by line,
 * reports "step N of M", and on cancel drops the request so the daemon stops the build, then makes sure the tag
 * was not left behind.
 */
import type Docker from 'dockerode';
import type { Readable } from 'node:stream';
import { stripVTControlCharacters } from 'node:util';
import { BerthError } from '../../../../shared/errors';

export interface BuildStep {
  step: number;
  total: number;
  instruction: string;
  /** True when Docker answered the step from its layer cache. */
  cached: boolean;
  /** The layer (image) id the step produced, short form as Docker prints it. */
  layer: string | null;
}

export interface ImageBuildRequest {
  docker: Docker;
  tar: Readable;
  tag: string;
  labels: Record<string, string>;
  /** Build for this platform (linux/arm64) instead of the engine's own. */
  platform?: string;
  onLine?: (line: string) => void;
  onProgress?: (step: BuildStep) => void;
  /** The base image's pull, summed over its layers (Docker reports each layer's download on its own). */
  onPull?: (pull: PullProgress) => void;
  signal?: AbortSignal;
  /** Upper bound for the whole build (default 30 min). */
  timeoutMs?: number;
}

export interface PullProgress {
  currentBytes: number;
  totalBytes: number;
  layers: number;
}

export interface ImageBuildResult {
  imageId: string;
  steps: BuildStep[];
}

const STEP_LINE = /^Step (\d+)\/(\d+) : (.*)$/;
const LAYER_LINE = /^ ---> ([0-9a-f]{12,64})$/;
const LOG_TAIL_LINES = 40;

interface DockerMessage {
  stream?: string;
  status?: string;
  progress?: string;
  progressDetail?: { current?: number; total?: number };
  id?: string;
  error?: string;
  errorDetail?: { code?: number; message?: string };
  aux?: { ID?: string };
}

/** Sums a pull's per-layer download progress; `track` says whether a message was one of those (and so not a line). */
function pullTracker(report: ImageBuildRequest['onPull']) {
  const layers = new Map<string, { current: number; total: number }>();
  let lastReport = 0;
  // At most four reports a second, and every completion: Docker sends a message per few hundred KB of each layer.
  const emit = (force = false) => {
    if (!force && Date.now() - lastReport < 250) return;
    lastReport = Date.now();
    const sizes = [...layers.values()];
    report?.({ currentBytes: sizes.reduce((n, l) => n + l.current, 0), totalBytes: sizes.reduce((n, l) => n + l.total, 0), layers: sizes.length });
  };
  return {
    track(msg: DockerMessage): boolean {
      const layer = msg.id ? layers.get(msg.id) : undefined;
      if (msg.status === 'Downloading' && msg.id && msg.progressDetail?.total) {
        layers.set(msg.id, { current: msg.progressDetail.current ?? 0, total: msg.progressDetail.total });
        emit();
        return true;
      }
      if (layer && (msg.status === 'Download complete' || msg.status === 'Pull complete')) {
        layer.current = layer.total;
        emit(true);
      }
      return Boolean(layer && (msg.status === 'Extracting' || msg.status === 'Verifying Checksum'));
    },
  };
}

function cancelled(): BerthError {
  return new BerthError('Cancelled', 'The build was cancelled; no image was tagged.');
}

/** Streams the build; resolves with the image id, rejects with BuildFailed / Cancelled / DockerUnavailable. */
export async function buildImage(req: ImageBuildRequest): Promise<ImageBuildResult> {
  const { docker, signal } = req;
  if (signal?.aborted) throw cancelled();
  const controller = new AbortController();
  const onAbort = () => controller.abort();
  signal?.addEventListener('abort', onAbort, { once: true });
  let timedOut = false;
  const timer = setTimeout(() => {
    timedOut = true;
    controller.abort();
  }, req.timeoutMs ?? 30 * 60_000);

  const pull = pullTracker(req.onPull);
  const steps: BuildStep[] = [];
  const tail: string[] = [];
  let imageId: string | null = null;
  let failure: { message: string } | null = null;
  let pending = '';

  const line = (text: string) => {
    // Docker colours a RUN step's stderr; the terminal panel gets the colours, the error detail plain text.
    tail.push(stripVTControlCharacters(text));
    if (tail.length > LOG_TAIL_LINES) tail.shift();
    req.onLine?.(text);
    const step = STEP_LINE.exec(text);
    if (step) {
      const s: BuildStep = { step: Number(step[1]), total: Number(step[2]), instruction: step[3], cached: false, layer: null };
      steps.push(s);
      req.onProgress?.(s);
      return;
    }
    const current = steps.at(-1);
    if (!current) return;
    if (text === ' ---> Using cache') current.cached = true;
    const layer = LAYER_LINE.exec(text);
    if (layer) current.layer = layer[1];
  };
  const message = (msg: DockerMessage) => {
    if (msg.error) {
      failure = { message: msg.errorDetail?.message ?? msg.error };
      return;
    }
    if (msg.aux?.ID) imageId = msg.aux.ID;
    if (msg.stream !== undefined) {
      pending += msg.stream;
      const parts = pending.split(/\r?\n/);
      pending = parts.pop() ?? '';
      for (const p of parts) line(p);
    } else if (msg.status) {
      // A layer's download progress is a bar, not thousands of log lines; its other states (waiting, complete) are lines.
      if (!pull.track(msg)) line([msg.status, msg.id, msg.progress].filter(Boolean).join(' '));
    }
  };

  try {
    let response: Readable;
    try {
      response = (await docker.buildImage(req.tar, {
        t: req.tag,
        labels: req.labels,
        platform: req.platform,
        rm: true,
        forcerm: true,
        abortSignal: controller.signal,
      })) as unknown as Readable;
    } catch (err) {
      if (controller.signal.aborted) throw timedOut ? timeoutError(req) : cancelled();
      throw engineError(err);
    }
    await new Promise<void>((resolve, reject) => {
      let buffered = '';
      response.setEncoding('utf8');
      response.on('data', (chunk: string) => {
        buffered += chunk;
        let nl: number;
        while ((nl = buffered.indexOf('\n')) >= 0) {
          const raw = buffered.slice(0, nl).trim();
          buffered = buffered.slice(nl + 1);
          if (!raw) continue;
          try {
            message(JSON.parse(raw) as DockerMessage);
          } catch {
            line(raw);
          }
        }
      });
      response.on('end', () => {
        if (buffered.trim()) {
          try {
            message(JSON.parse(buffered.trim()) as DockerMessage);
          } catch {
            line(buffered.trim());
          }
        }
        resolve();
      });
      response.on('error', reject);
      response.on('close', () => (controller.signal.aborted ? reject(cancelled()) : resolve()));
    }).catch((err) => {
      if (controller.signal.aborted) throw timedOut ? timeoutError(req) : cancelled();
      throw engineError(err);
    });
    if (pending) line(pending);
    if (controller.signal.aborted) throw timedOut ? timeoutError(req) : cancelled();
    if (failure) {
      const failed = steps.at(-1);
      const where = failed ? `step ${failed.step}/${failed.total} (${failed.instruction})` : 'before the first step';
      const hint = failed && /^FROM /i.test(failed.instruction) ? ' Check the base image setting: the image must exist locally or be pullable.' : '';
      throw new BerthError('BuildFailed', `The image build failed at ${where}: ${(failure as { message: string }).message}.${hint}`, {
        step: failed ?? null,
        error: (failure as { message: string }).message,
        logTail: tail.join('\n'),
      });
    }
    if (!imageId) {
      // Older engines only print "Successfully built <id>".
      const built = tail.map((l) => /^Successfully built ([0-9a-f]+)$/.exec(l)).find(Boolean);
      if (built) imageId = built[1];
    }
    if (!imageId) throw new BerthError('BuildFailed', 'Docker finished the build without reporting an image.', { step: null, error: null, logTail: tail.join('\n') });
    return { imageId, steps };
  } catch (err) {
    if (controller.signal.aborted) await removeTagIfPresent(docker, req.tag);
    throw err;
  } finally {
    req.tar.destroy();
    clearTimeout(timer);
    signal?.removeEventListener('abort', onAbort);
  }
}

/**
 * After a cancel the daemon notices the closed connection at its next check; in the rare case it had already
 * finished, the image is tagged a moment later. Look for the tag a few times and remove it.
 */
async function removeTagIfPresent(docker: Docker, tag: string, attempts = 4, intervalMs = 250): Promise<void> {
  for (let i = 0; i < attempts; i++) {
    const found = await docker
      .getImage(tag)
      .inspect()
      .then(() => true)
      .catch(() => false);
    if (found) {
      await docker
        .getImage(tag)
        .remove({ noprune: false })
        .catch(() => undefined);
      return;
    }
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

function timeoutError(req: ImageBuildRequest): BerthError {
  const ms = req.timeoutMs ?? 0;
  const limit = ms >= 120_000 ? `${Math.round(ms / 60_000)} min` : `${Math.max(1, Math.round(ms / 1000))} s`;
  return new BerthError('BuildFailed', `The image build took longer than ${limit} and was stopped.`);
}

function engineError(err: unknown): BerthError {
  if (err instanceof BerthError) return err;
  const reason = err instanceof Error ? err.message : String(err);
  if (/ENOENT|ECONNREFUSED|EACCES|socket hang up/.test(reason)) {
    return new BerthError('DockerUnavailable', `The Docker engine stopped answering during the build: ${reason}. Is dockerd running?`, { reason });
  }
  return new BerthError('BuildFailed', `Docker refused the build: ${reason}`, { step: null, error: reason, logTail: '' });
}
