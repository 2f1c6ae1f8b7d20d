import { z } from 'zod';
import { AnalyzeOptions, CheckFinding, ProjectAnalysis } from './project';

/** An OCI platform: os/arch[/variant]. */
export const Platform = z.string().regex(/^[a-z0-9]+\/[a-z0-9]+(\/v[0-9]+)?$/, 'A platform is os/arch, e.g. linux/amd64 or linux/arm64');

/**
 * Building a project: the generated (and user-editable) Dockerfile and requirements, the local image build,
 * and the smoke test that runs the image once with the notebook's sample input.
 */

/** The two generated files the user may edit; Berth keeps their edits across regenerations. */
export const EditableFile = z.enum(['dockerfile', 'requirements']);
export type EditableFile = z.infer<typeof EditableFile>;

/** One editable file: what Berth generates now, the user's edit (if any), and what a build will use. */
export const EditableFileState = z.object({
  file: EditableFile,
  /** What Berth generates from the current analysis. */
  generated: z.string(),
  /** The user's text, or null when they never edited (or reset) this file. */
  edited: z.string().nullable(),
  /** The generated text the user's edit was based on (null without an edit). */
  basedOn: z.string().nullable(),
  /** What the build uses: the user's edit when there is one, else the generated text. */
  effective: z.string(),
  /**
   * True when there is an edit and the generator's output changed since the edit was made: the UI shows
   * `generatorDiff` ("the generated file changed like this; your edits are kept").
   */
  generatorChanged: z.boolean(),
  /** Unified diff from `basedOn` to `generated`, when `generatorChanged`. */
  generatorDiff: z.string().nullable(),
  /** The user's edit with the generator's changes applied, when that patch applies cleanly (a suggestion, never applied silently). */
  mergeSuggestion: z.string().nullable(),
});
export type EditableFileState = z.infer<typeof EditableFileState>;

export const ProjectRef = z.object({
  /** The project folder or .ipynb, as opened. */
  path: z.string().min(1, 'Give the path of the project folder or notebook'),
  options: AnalyzeOptions.optional(),
});

export const PrepareInput = ProjectRef.strict();
export type PrepareInput = z.infer<typeof PrepareInput>;

export const PreparedBuild = z.object({
  analysis: ProjectAnalysis,
  dockerfile: EditableFileState,
  requirements: EditableFileState,
  /** Findings that stop the build (severity error); empty when the project can be built. */
  blocking: z.array(CheckFinding),
  /** The base image the generated Dockerfile starts from. */
  baseImage: z.string(),
});
export type PreparedBuild = z.infer<typeof PreparedBuild>;

export const SaveEditsInput = z
  .object({
    path: z.string().min(1),
    /** New text; omit to leave the file as is. Text equal to the generated file removes the edit. */
    dockerfile: z.string().min(1, 'The Dockerfile cannot be empty').optional(),
    requirements: z.string().optional(),
  })
  .strict();
export type SaveEditsInput = z.infer<typeof SaveEditsInput>;

export const ResetEditsInput = z
  .object({
    path: z.string().min(1),
    /** Which files to reset; all when omitted. */
    files: z.array(EditableFile).optional(),
  })
  .strict();
export type ResetEditsInput = z.infer<typeof ResetEditsInput>;

export const EditsState = z.object({ dockerfile: EditableFileState, requirements: EditableFileState });
export type EditsState = z.infer<typeof EditsState>;

export const SmokeDifference = z.object({
  /** JSON path, e.g. `$[0]` or `$.label`. */
  path: z.string(),
  expected: z.json().optional(),
  actual: z.json().optional(),
  reason: z.string(),
});
export type SmokeDifference = z.infer<typeof SmokeDifference>;

export const SmokeResult = z.discriminatedUnion('status', [
  z.object({
    status: z.literal('passed'),
    /** From container start to /readyz answering 200. */
    readyMs: z.number().nonnegative(),
    durationMs: z.number().nonnegative(),
    input: z.json(),
    output: z.json(),
  }),
  z.object({
    /** No sample: nothing proves the image answers like the notebook, so a deploy must be blocked. */
    status: z.literal('skipped'),
    reason: z.string(),
  }),
  z.object({
    status: z.literal('failed'),
    reason: z.string(),
    logTail: z.string(),
    differences: z.array(SmokeDifference),
  }),
]);
export type SmokeResult = z.infer<typeof SmokeResult>;

/** What a finished image build produced. */
export const BuiltImage = z.object({
  imageTag: z.string(),
  imageId: z.string(),
  sizeBytes: z.number().int().nonnegative(),
  durationMs: z.number().nonnegative(),
  contextHash: z.string(),
  /** Build steps answered from Docker's layer cache. */
  cachedSteps: z.number().int().nonnegative(),
  totalSteps: z.number().int().nonnegative(),
});
export type BuiltImage = z.infer<typeof BuiltImage>;

export const BuildRunInput = ProjectRef.extend({
  /** Run the smoke test after the build (default true). */
  smoke: z.boolean().default(true),
  /** How long the smoke test waits for /readyz. */
  smokeTimeoutMs: z.number().int().min(1000).max(600_000).default(60_000),
  /** Build for this platform (the target group's, e.g. linux/arm64) rather than the local engine's own. */
  platform: Platform.optional(),
  /** Build on this server of the group with its own engine (only the context leaves this machine); absent: locally. */
  on: z.object({ serverId: z.number().int().positive() }).strict().optional(),
}).strict();
export type BuildRunInput = z.input<typeof BuildRunInput>;

export const BuildPhase = z.enum(['analyze', 'context', 'build', 'smoke']);
export type BuildPhase = z.infer<typeof BuildPhase>;

export const BuildEvent = z.discriminatedUnion('type', [
  z.object({ type: z.literal('phase'), phase: BuildPhase }),
  /** One line of output for the terminal panel (Docker's build output, or Berth's own notes). */
  z.object({ type: z.literal('log'), line: z.string(), source: z.enum(['docker', 'berth', 'container']) }),
  /** Docker build step N of M. */
  z.object({ type: z.literal('progress'), step: z.number().int().positive(), total: z.number().int().positive(), instruction: z.string() }),
  /** The base image's pull (the build's FROM, when the engine lacks it): bytes of the layers Docker has sized so far. */
  z.object({ type: z.literal('pull'), currentBytes: z.number().nonnegative(), totalBytes: z.number().nonnegative(), layers: z.number().int().nonnegative() }),
  z.object({ type: z.literal('result'), buildId: z.number().int(), ...BuiltImage.shape }),
  z.object({ type: z.literal('smoke'), result: SmokeResult }),
]);
export type BuildEvent = z.infer<typeof BuildEvent>;

export const BuildStatus = z.enum(['succeeded', 'failed', 'cancelled']);
export type BuildStatus = z.infer<typeof BuildStatus>;

export const BuildRecord = z.object({
  id: z.number().int(),
  projectPath: z.string(),
  project: z.string(),
  imageTag: z.string().nullable(),
  imageId: z.string().nullable(),
  notebookHash: z.string(),
  contextHash: z.string().nullable(),
  dockerfile: z.string(),
  requirements: z.string(),
  status: BuildStatus,
  /** Null when the smoke test did not run (build failed, or run without it). */
  smoke: SmokeResult.nullable(),
  /** True only when the build succeeded and the smoke test passed: the caller must not deploy anything else. */
  deployable: z.boolean(),
  sizeBytes: z.number().int().nullable(),
  durationMs: z.number().nullable(),
  /** What the image is for (docker image inspect: Os/Architecture, e.g. linux/amd64); null without an image. */
  platform: z.string().nullable(),
  /** The server whose engine built the image (a remote build; the image is there, not here); null: built locally. */
  builtOn: z.number().int().nullable().optional(),
  error: z.object({ kind: z.string(), message: z.string() }).nullable(),
  createdAt: z.string(),
});
export type BuildRecord = z.infer<typeof BuildRecord>;

export const ListBuildsInput = z
  .object({
    /** Only this project's builds (the path as opened); all when omitted. */
    path: z.string().min(1).optional(),
    limit: z.number().int().min(1).max(500).default(50),
  })
  .strict();
export type ListBuildsInput = z.input<typeof ListBuildsInput>;
