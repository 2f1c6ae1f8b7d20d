/**
 * The build pipeline: analyse → generate (keeping the user's edits) → assemble the context → docker build →
 * smoke test, recording every build. Streams its progress to one subscriber and stops when it goes away.
 */
import Docker from 'dockerode';
import os from 'node:os';
import path from 'node:path';
import type {
  BuildEvent,
  BuildRecord,
  BuildRunInput,
  EditableFile,
  EditsState,
  PreparedBuild,
  SmokeResult,
} from '../../../../shared/build';
import { BerthError } from '../../../../shared/errors';
import { imagePlatform } from '../../../../shared/platform';
import { applyRequirementChoices } from './choices';
import { blocksBuild, type AnalyzeOptions, type CheckFinding, type ProjectAnalysis, type SampleIO } from '../../../../shared/project';
import type { Settings } from '../../../../shared/types';
import type { Db } from '../store/database';
import { buildImage, type BuildStep } from './builder';
import { assembleContext, defaultWrapperPath } from './context';
import { baseImageFor, generateFiles } from './dockerfile';
import { createEditsRepo, fileState } from './edits';
import { projectRoot } from '../project/project-file';
import { readReviewedFiles, readReviewedSample, REVIEWED_NAMES, REVIEWED_SAMPLE, reviewedName, writeReviewedFiles, writeReviewedSample } from './reviewed-files';

const EDITABLE_FILES: EditableFile[] = ['dockerfile', 'requirements'];
import { createBuildRecords } from './records';
import { smokeTest } from './smoke';
import type { SshConnection } from '../transport/ssh';
import { buildOnServer } from './remote-run';
import { remoteSmokeTest } from './remote-smoke';

export interface BuildServiceDeps {
  db: Db;
  analyze: (target: string, options?: AnalyzeOptions) => Promise<ProjectAnalysis>;
  settings: () => Pick<Settings, 'baseImage' | 'dockerSocket'>;
  /** Checks the engine answers before a build (EngineService.info); gives the actionable DockerUnavailable. */
  engineCheck?: () => Promise<unknown>;
  /** A Docker client without a request timeout (builds and smoke tests run for minutes). */
  docker?: () => Docker;
  wrapperPath?: () => string;
  now?: () => Date;
  /** The OS user recorded in the `berth.built-by` label. */
  userName?: () => string;
  tmpDir?: string;
  /** Upper bound of one image build. */
  buildTimeoutMs?: number;
  /** A server's SSH connection (servers.connection), for a build `on` a server of the group. */
  connection?: (serverId: number) => Promise<SshConnection>;
}

type Emit = (event: BuildEvent) => void;

/** `b<yyyymmdd-hhmmss>-<8 hex of the context hash>` (UTC): sorts by time, says what was built. */
export function versionId(at: Date, contextHash: string): string {
  const p = (n: number) => String(n).padStart(2, '0');
  const date = `${at.getUTCFullYear()}${p(at.getUTCMonth() + 1)}${p(at.getUTCDate())}`;
  const time = `${p(at.getUTCHours())}${p(at.getUTCMinutes())}${p(at.getUTCSeconds())}`;
  return `b${date}-${time}-${contextHash.slice(0, 8)}`;
}

export function osUserName(): string {
  try {
    return os.userInfo().username;
  } catch {
    return process.env.USER ?? process.env.USERNAME ?? 'unknown';
  }
}

function describeFinding(f: CheckFinding): string {
  const where = f.location ? `${f.location.file}${f.location.cell !== undefined ? ` cell ${f.location.cell + 1}` : ''}: ` : '';
  return `${where}${f.message}`;
}

async function enginePlatform(client: Docker): Promise<string> {
  const version = await client.version();
  return `${version.Os}/${version.Arch}`;
}

function cannotBuildFor(engine: string, platform: string, reason: string): BerthError {
  return new BerthError(
    'BuildFailed',
    `The local Docker engine (${engine}) cannot build for ${platform}: ${reason}. Build on a server of the group instead (the remote build), or give this engine emulation for ${platform} (QEMU binfmt) and a base image for it.`,
    { engine, platform, reason },
  );
}

export function projectInvalid(analysis: ProjectAnalysis, blocking: CheckFinding[]): BerthError {
  const list = blocking.map((f) => `- ${describeFinding(f)}`).join('\n');
  return new BerthError(
    'ProjectInvalid',
    `Berth cannot build ${analysis.name} until ${blocking.length === 1 ? 'this problem is' : `these ${blocking.length} problems are`} fixed:\n${list}`,
    { findings: blocking },
  );
}

export function createBuildService(deps: BuildServiceDeps) {
  const edits = createEditsRepo(deps.db, deps.now);
  const records = createBuildRecords(deps.db, deps.now);
  const now = deps.now ?? (() => new Date());
  const userName = deps.userName ?? osUserName;
  let cachedDocker: { socket: string; docker: Docker } | undefined;
  const docker =
    deps.docker ??
    (() => {
      const socket = deps.settings().dockerSocket;
      if (cachedDocker?.socket !== socket) cachedDocker = { socket, docker: new Docker({ socketPath: socket }) };
      return cachedDocker.docker;
    });
  let wrapper: string | undefined;
  const wrapperPath = deps.wrapperPath ?? (() => (wrapper ??= defaultWrapperPath()));

  const keyOf = (target: string) => path.resolve(target);

  /** The project's berth.toml may choose its own base image. */
  const settingsFor = (analysis: ProjectAnalysis) => {
    const settings = deps.settings();
    return { ...settings, baseImage: analysis.projectFile?.base_image ?? settings.baseImage };
  };

  /** Generates both files and reconciles them with the stored edits; a project that cannot be generated yet keeps its edits untouched. */
  function regenerate(key: string, analysis: ProjectAnalysis): { state: EditsState; baseImage: string; generated: boolean } {
    const settings = settingsFor(analysis);
    try {
      const generated = generateFiles(analysis, settings);
      return { state: edits.regenerate(key, generated), baseImage: generated.baseImage, generated: true };
    } catch (err) {
      if (!(err instanceof BerthError) || err.kind !== 'ProjectInvalid') throw err;
      const placeholder = `# Berth cannot generate this file yet: ${err.message}\n`;
      let baseImage = settings.baseImage;
      try {
        baseImage = baseImageFor(settings.baseImage, analysis.pythonVersion);
      } catch {
        /* no usable Python version: show the template */
      }
      return {
        state: { dockerfile: fileState('dockerfile', placeholder, null), requirements: fileState('requirements', placeholder, null) },
        baseImage,
        generated: false,
      };
    }
  }

  /**
   * Regenerates, then takes the project's reviewed files (.berth/) as the edits wherever they differ from what this
   * data folder holds: the project's files are the truth (a teammate's commit, a fresh clone), the database a cache.
   */
  async function reconcile(key: string, analysis: ProjectAnalysis) {
    const regenerated = regenerate(key, analysis);
    if (!regenerated.generated) return { ...regenerated, adopted: [] as EditableFile[] };
    const reviewed = await readReviewedFiles(analysis.root);
    const adopted = EDITABLE_FILES.filter((file) => reviewed[file] !== undefined && reviewed[file] !== regenerated.state[file].effective);
    if (!adopted.length) return { ...regenerated, adopted };
    const state = edits.save(key, Object.fromEntries(adopted.map((file) => [file, reviewed[file]])));
    return { ...regenerated, state, adopted };
  }

  /** Saving or resetting is the review: the project's .berth/ gets both files as they now stand. */
  async function recordReview(target: string, state: EditsState): Promise<EditsState> {
    const root = projectRoot(target);
    await writeReviewedFiles(root, { dockerfile: state.dockerfile.effective, requirements: state.requirements.effective });
    const sample = latestSample.get(keyOf(target));
    if (sample) await writeReviewedSample(root, sample);
    return state;
  }

  /** The latest analysis of each project: saving the reviewed files records its sample beside them. */
  const latestSample = new Map<string, SampleIO | null>();

  /**
   * The analysis as the build sees it: imports the reviewed requirements answer no longer block (the project's
   * .berth/requirements.txt, else the user's edit here). Where this machine's Python could not run the sample for want
   * of a package those pin (a CI runner), the reviewed sample stands in for it.
   */
  async function analyzeWithChoices(target: string, options?: AnalyzeOptions): Promise<{ analysis: ProjectAnalysis; sampleStandIn: boolean }> {
    const raw = await deps.analyze(target, options);
    const reviewed = await readReviewedFiles(raw.root);
    const analysis =
      reviewed.requirements !== undefined
        ? applyRequirementChoices(raw, reviewed.requirements, `the reviewed ${reviewedName('requirements')}`)
        : applyRequirementChoices(raw, edits.editedText(keyOf(target), 'requirements'));
    latestSample.set(keyOf(target), analysis.sample);
    const couldNotRun = !analysis.sample && analysis.findings.some((f) => f.code === 'sample-failed' && f.severity === 'warning');
    const standIn = couldNotRun ? await readReviewedSample(analysis.root) : null;
    return { analysis: standIn ? { ...analysis, sample: standIn } : analysis, sampleStandIn: standIn !== null };
  }

  async function prepare(target: string, options?: AnalyzeOptions): Promise<PreparedBuild> {
    const { analysis } = await analyzeWithChoices(target, options);
    const { state, baseImage } = await reconcile(keyOf(target), analysis);
    return {
      analysis,
      dockerfile: state.dockerfile,
      requirements: state.requirements,
      blocking: analysis.findings.filter(blocksBuild),
      baseImage,
    };
  }

  async function run(rawInput: BuildRunInput, emit: Emit, signal: AbortSignal): Promise<void> {
    const input = { smoke: true, smokeTimeoutMs: 60_000, ...rawInput };
    const key = keyOf(input.path);
    const log = (line: string) => emit({ type: 'log', line, source: 'berth' });
    const checkCancelled = () => {
      if (signal.aborted) throw new BerthError('Cancelled', 'The build was cancelled.');
    };

    emit({ type: 'phase', phase: 'analyze' });
    log(`Analysing ${key} …`);
    const { analysis, sampleStandIn } = await analyzeWithChoices(input.path, input.options);
    checkCancelled();
    if (sampleStandIn) log(`This machine's Python cannot run the notebook's served code, so the reviewed files decide: the smoke test sends the sample in ${REVIEWED_SAMPLE} and expects its answer.`);
    const blocking = analysis.findings.filter(blocksBuild);
    if (blocking.length) throw projectInvalid(analysis, blocking);
    const { state, adopted } = await reconcile(key, analysis);
    for (const file of EDITABLE_FILES) {
      const s = state[file];
      if (adopted.includes(file)) log(`Using the project's reviewed ${reviewedName(file)} (it differs from what this Berth last saw).`);
      else if (s.edited !== null) log(`Using the reviewed ${reviewedName(file)}.`);
      if (s.generatorChanged) log(`The generated ${REVIEWED_NAMES[file]} changed since it was reviewed; the reviewed file is kept (see the diff in the editor).`);
    }

    const remote = input.on ? await connectionFor(input.on.serverId) : null;
    if (deps.engineCheck && !remote) await deps.engineCheck();
    emit({ type: 'phase', phase: 'context' });
    const startedAt = now();
    const started = Date.now();
    const context = await assembleContext(
      { analysis, dockerfile: state.dockerfile.effective, requirements: state.requirements.effective, wrapperPath: wrapperPath() },
      deps.tmpDir,
    );
    const tag = `berth/${analysis.name}:${versionId(startedAt, context.hash)}`;
    const base = {
      projectPath: key,
      project: analysis.name,
      notebookHash: analysis.notebookHash,
      contextHash: context.hash,
      dockerfile: state.dockerfile.effective,
      requirements: state.requirements.effective,
    };
    let record: BuildRecord;
    try {
      log(`Build context: ${context.files.length} files, ${context.sizeBytes} bytes, sha256 ${context.hash.slice(0, 12)}…; tag ${tag}`);
      checkCancelled();
      emit({ type: 'phase', phase: 'build' });
      const labels = {
        'berth.project': analysis.name,
        'berth.notebook-sha256': analysis.notebookHash,
        'berth.entrypoint': analysis.entrypoint ?? '',
        'berth.built-by': userName(),
        'berth.built-at': startedAt.toISOString(),
        'berth.context-sha256': context.hash,
      };
      if (remote) {
        const built = await buildOnServer({ ssh: remote, context, tag, labels, platform: input.platform, signal, timeoutMs: deps.buildTimeoutMs, emit });
        const durationMs = Date.now() - started;
        record = records.add({ ...base, imageTag: tag, imageId: built.imageId, status: 'succeeded', sizeBytes: built.sizeBytes, durationMs, platform: built.platform, builtOn: input.on!.serverId, error: null });
        emit({ type: 'result', buildId: record.id, imageTag: tag, imageId: built.imageId, sizeBytes: built.sizeBytes, durationMs, contextHash: context.hash, cachedSteps: built.cachedSteps, totalSteps: built.totalSteps });
      } else {
        const client = docker();
        const engine = input.platform ? await enginePlatform(client) : null;
        if (input.platform && input.platform !== engine) {
          log(`Building for ${input.platform} on a ${engine} engine: every RUN step is emulated (QEMU), several times slower than a native build.`);
        }
        const built = await buildImage({
          docker: client,
          tar: context.tar(),
          tag,
          labels,
          platform: input.platform,
          signal,
          timeoutMs: deps.buildTimeoutMs,
          onLine: (line) => emit({ type: 'log', line, source: 'docker' }),
          onProgress: (s: BuildStep) => emit({ type: 'progress', step: s.step, total: s.total, instruction: s.instruction }),
          onPull: (p) => emit({ type: 'pull', ...p }),
        }).catch((err: unknown) => {
          throw input.platform && input.platform !== engine && /exec format error|platform/i.test(BerthError.from(err).message)
            ? cannotBuildFor(engine!, input.platform, BerthError.from(err).message)
            : err;
        });
        const image = await client.getImage(tag).inspect();
        const platform = imagePlatform(image);
        if (input.platform && platform !== input.platform) {
          // The classic builder takes a base image of another platform found locally, and says nothing.
          await client.getImage(tag).remove().catch(() => undefined);
          throw cannotBuildFor(engine!, input.platform, `it built a ${platform} image (its base image is here for ${platform} only)`);
        }
        log(`The image is for ${platform}.`);
        const durationMs = Date.now() - started;
        record = records.add({ ...base, imageTag: tag, imageId: image.Id, status: 'succeeded', sizeBytes: image.Size, durationMs, platform, error: null });
        emit({
          type: 'result',
          buildId: record.id,
          imageTag: tag,
          imageId: image.Id,
          sizeBytes: image.Size,
          durationMs,
          contextHash: context.hash,
          cachedSteps: built.steps.filter((s) => s.cached).length,
          totalSteps: built.steps.at(-1)?.total ?? built.steps.length,
        });
      }
    } catch (err) {
      const e = BerthError.from(err);
      records.add({
        ...base,
        imageTag: null,
        imageId: null,
        status: e.kind === 'Cancelled' ? 'cancelled' : 'failed',
        sizeBytes: null,
        durationMs: Date.now() - started,
        builtOn: input.on?.serverId ?? null,
        error: { kind: e.kind, message: e.message },
      });
      throw err;
    } finally {
      await context.dispose();
    }

    if (input.smoke) await smokeWhereBuilt(record, analysis, input, emit, signal);
  }

  async function connectionFor(serverId: number): Promise<SshConnection> {
    if (!deps.connection) throw new BerthError('ValidationError', 'This Berth cannot reach servers, so it builds locally only.');
    return deps.connection(serverId);
  }

  /** The smoke test where the image is: the local engine, or the server that built it. */
  async function smokeWhereBuilt(
    record: BuildRecord,
    analysis: ProjectAnalysis,
    input: { smokeTimeoutMs: number; on?: { serverId: number } },
    emit: Emit,
    signal: AbortSignal,
  ): Promise<void> {
    const log = (line: string) => emit({ type: 'log', line, source: 'berth' });
    if (signal.aborted) throw new BerthError('Cancelled', 'The build was cancelled.');
    emit({ type: 'phase', phase: 'smoke' });
    const where = input.on ? (await connectionFor(input.on.serverId)) : null;
    log(analysis.sample ? `Smoke test${where ? ` on ${where.target.host}` : ''}: starting ${record.imageTag} and sending the sample to /predict …` : 'Smoke test skipped: the notebook has no sample input.');
    let smoke: SmokeResult;
    try {
      smoke = where
        ? await remoteSmokeTest({ ssh: where, image: record.imageTag!, project: analysis.name, sample: analysis.sample, readyTimeoutMs: input.smokeTimeoutMs, signal })
        : await smokeTest({
            docker: docker(),
            image: record.imageId!,
            project: analysis.name,
            sample: analysis.sample,
            readyTimeoutMs: input.smokeTimeoutMs,
            signal,
          });
    } catch (err) {
      const e = BerthError.from(err);
      if (e.kind === 'SmokeTestFailed') {
        const failed = e.detail as SmokeResult;
        const result: SmokeResult = { status: 'failed', reason: failed.status === 'failed' ? failed.reason : e.message, logTail: failed.status === 'failed' ? failed.logTail : '', differences: failed.status === 'failed' ? failed.differences : [] };
        records.setSmoke(record.id, result);
        emit({ type: 'smoke', result });
      }
      throw err;
    }
    records.setSmoke(record.id, smoke);
    emit({ type: 'smoke', result: smoke });
  }

  return {
    prepare,
    run,
    saveEdits: async (target: string, texts: Partial<Record<EditableFile, string>>) => recordReview(target, edits.save(keyOf(target), texts)),
    resetEdits: async (target: string, files?: EditableFile[]) => recordReview(target, edits.reset(keyOf(target), files)),
    list: (target?: string, limit?: number): BuildRecord[] => records.list(target ? keyOf(target) : undefined, limit),
    get: (id: number): BuildRecord | null => records.get(id),
  };
}
export type BuildService = ReturnType<typeof createBuildService>;
