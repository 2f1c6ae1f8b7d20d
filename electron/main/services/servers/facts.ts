import { BerthError } from '../../../../shared/errors';
import type { ServerFacts } from '../../../../shared/servers';
import { script } from '../remote/command';
import type { SshConnection } from '../transport/ssh';

const SEPARATOR = '---berth---';

/** One round trip: the engine's facts, free disk under Docker's data root, and GPUs if nvidia-smi exists; berth-shell's `facts` prints the same. */
export const FACTS_COMMAND = script([
  `docker info --format '{{json .}}'`,
  `echo ${SEPARATOR}`,
  `df -P -B1 "$(docker info --format '{{.DockerRootDir}}')" | tail -n 1`,
  `echo ${SEPARATOR}`,
  `if command -v nvidia-smi >/dev/null 2>&1; then nvidia-smi --query-gpu=name,memory.total --format=csv,noheader; fi`,
].join('; ')).asVerb(['facts']);

export async function readServerFacts(ssh: SshConnection): Promise<ServerFacts> {
  const started = performance.now();
  const result = await ssh.exec(FACTS_COMMAND, { timeoutMs: 15_000 });
  const latencyMs = performance.now() - started;
  const refusal = ssh.refusal(result);
  if (refusal) throw refusal;
  const [infoText = '', dfLine = '', gpuText = ''] = result.stdout.toString().split(`${SEPARATOR}\n`);
  let info: Record<string, unknown>;
  try {
    info = JSON.parse(infoText);
  } catch {
    throw new BerthError(
      'RemoteCommandFailed',
      `Docker is not usable by ${ssh.target.username} on ${ssh.target.host}: ${result.stderr.trim() || 'docker info printed nothing'}. Install Docker there and add the user to the "docker" group.`,
    );
  }
  if (typeof info.ServerVersion !== 'string' || !info.ServerVersion) {
    throw new BerthError('RemoteCommandFailed', `The Docker engine on ${ssh.target.host} does not answer: ${result.stderr.trim()}`);
  }
  const available = Number(dfLine.trim().split(/\s+/)[3]);
  return {
    engineVersion: info.ServerVersion,
    os: String(info.OperatingSystem ?? info.OSType ?? 'unknown'),
    arch: String(info.Architecture ?? 'unknown'),
    cpus: Number(info.NCPU ?? 0),
    memoryBytes: Number(info.MemTotal ?? 0),
    diskFreeBytes: Number.isFinite(available) ? available : 0,
    dockerRootDir: String(info.DockerRootDir ?? ''),
    gpus: gpuText.split('\n').map((line) => line.trim()).filter(Boolean),
    latencyMs: Math.round(latencyMs * 10) / 10,
    checkedAt: new Date().toISOString(),
  };
}
