/**
 * The build step of build.run when it runs `on` a server: the remote build with the pipeline's events (log lines,
 * step progress) and its notes (what crossed, the image's platform).
 */
import type { BuildEvent } from '../../../../shared/build';
import { BerthError } from '../../../../shared/errors';
import type { SshConnection } from '../transport/ssh';
import type { BuildContext } from './context';
import { remoteBuild, remoteBuildCommands } from './remote-build';

export interface BuildOnServerRequest {
  ssh: SshConnection;
  context: BuildContext;
  tag: string;
  labels: Record<string, string>;
  /** The group's platform, when the caller knows it: the server's engine must build for it natively. */
  platform?: string;
  signal: AbortSignal;
  timeoutMs?: number;
  emit: (event: BuildEvent) => void;
}

/** The classic builder's `Step 3/9 : RUN …` and its cache note, BuildKit's `#7 CACHED`. */
const STEP = /^Step (\d+)\/(\d+) : (.*)$/;
const CACHED = /^ ---> Using cache$|^#\d+ CACHED$/;

export async function buildOnServer(req: BuildOnServerRequest) {
  const host = req.ssh.target.host;
  const log = (line: string) => req.emit({ type: 'log', line, source: 'berth' });
  log(`Building on ${host} with its own engine: only the build context (${req.context.sizeBytes} bytes) leaves this machine.`);
  let totalSteps = 0;
  let cachedSteps = 0;
  const built = await remoteBuild({
    ssh: req.ssh,
    tar: req.context.tar(),
    tag: req.tag,
    labels: req.labels,
    signal: req.signal,
    timeoutMs: req.timeoutMs,
    onOutput: (line) => {
      req.emit({ type: 'log', line, source: 'docker' });
      const step = STEP.exec(line);
      if (step) {
        totalSteps = Number(step[2]);
        req.emit({ type: 'progress', step: Number(step[1]), total: totalSteps, instruction: step[3] });
      } else if (CACHED.test(line)) cachedSteps++;
    },
  });
  if (req.platform && built.platform !== req.platform) {
    await req.ssh.exec(remoteBuildCommands.removeImage(req.tag), { timeoutMs: 60_000 }).catch(() => undefined);
    throw new BerthError('BuildFailed', `${host} built a ${built.platform} image, not ${req.platform} (the group's platform): build on a server of that platform.`);
  }
  log(`Sent ${built.bytesSent} bytes to ${host}; the image (${built.sizeBytes} bytes, ${built.platform}) stays there until a deploy copies it to the group's other servers.`);
  return { ...built, totalSteps, cachedSteps };
}
