/**
 * Keeps the server agent (docs/AGENT.md) running beside the gateway: the same image, started in agent mode with the
 * server's Docker socket and Berth's folder. The gateway itself never gets the socket.
 */
import { BerthError } from '../../../../shared/errors';
import type { RemoteShell } from '../gateway/remote';
import { imageIdOnServer } from '../gateway/install';
import { docker, script } from '../remote/command';
import { AGENT_CONTAINER, AGENT_PORT, GATEWAY_PORT, agentViewPath, type ServerLayout } from '../remote/layout';

const INSPECT_FORMAT = '{"image":{{json .Image}},"running":{{json .State.Running}},"args":{{json .Args}}}';

const agentArgs = (layout: ServerLayout) => [
  'agent',
  '-berth-dir', layout.berthDir,
  '-gateway-dir', `${layout.berthDir}/gateway`,
  '-listen', `:${AGENT_PORT}`,
  '-gateway-port', String(GATEWAY_PORT),
];

/** The remote commands of the agent, kept apart from the code that runs them. */
export const agentCommands = {
  inspect: () => docker('inspect', '--type', 'container', '-f', INSPECT_FORMAT, AGENT_CONTAINER),
  remove: () => docker('rm', '-f', AGENT_CONTAINER),
  run: (layout: ServerLayout, image: string) =>
    docker(
      'run', '-d',
      '--name', AGENT_CONTAINER,
      '--network', 'host',
      '--restart', 'unless-stopped',
      '--label', 'berth.agent=1',
      '--log-driver', 'json-file', '--log-opt', 'max-size=10m', '--log-opt', 'max-file=3',
      '-v', `${layout.berthDir}:${layout.berthDir}`,
      '-v', '/var/run/docker.sock:/var/run/docker.sock',
      image,
      ...agentArgs(layout),
    ),
  /** One round trip (the monitor's, and the wait after a start): the view's age in seconds (server clock) on the first line, then the view; "none" while there is none. */
  viewWithAge: (layout: ServerLayout) =>
    script('if [ -e "$1" ]; then echo $(( $(date +%s) - $(stat -c %Y "$1") )); cat "$1"; else echo none; fi', agentViewPath(layout)).asVerb(['view', '--with-age']),
  logTail: () => docker('logs', '--tail', 30, AGENT_CONTAINER).withErrorsInOutput(),
};

export type AgentAction = 'unchanged' | 'created' | 'replaced';

/** Runs the agent from `image` unless it already runs from it with these arguments; waits (bounded) for its first view. */
export async function ensureAgent(ssh: RemoteShell, layout: ServerLayout, image: string, waitMs = 20_000): Promise<AgentAction> {
  const imageId = await imageIdOnServer(ssh, image, 'agent');
  const inspected = await ssh.exec(agentCommands.inspect(), { timeoutMs: 20_000 });
  const existing = inspected.code === 0 ? (JSON.parse(inspected.stdout.toString()) as { image: string; running: boolean; args: string[] }) : null;
  if (existing && existing.image === imageId && existing.running && existing.args.join(' ') === agentArgs(layout).join(' ')) return 'unchanged';
  if (existing) await ssh.run(agentCommands.remove(), { timeoutMs: 30_000 });
  await ssh.run(agentCommands.run(layout, image), { timeoutMs: 60_000 });
  await waitForView(ssh, layout, waitMs);
  return existing ? 'replaced' : 'created';
}

/** Waits until the agent has written a view in the last few seconds; on timeout, the error carries its log. */
async function waitForView(ssh: RemoteShell, layout: ServerLayout, waitMs: number): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (let attempt = 0; attempt < 100 && Date.now() < deadline; attempt++) {
    const age = (await ssh.run(agentCommands.viewWithAge(layout), { timeoutMs: 10_000 })).split('\n', 1)[0].trim();
    if (age !== 'none' && Number(age) <= 5) return;
    await new Promise((resolve) => setTimeout(resolve, 500));
  }
  const logs = (await ssh.exec(agentCommands.logTail(), { timeoutMs: 10_000 })).stdout.toString().trim();
  throw new BerthError('RemoteCommandFailed', `The agent on ${ssh.target.host} wrote no view within ${Math.round(waitMs / 1000)} s. Its last log lines:\n${logs}`, { logs });
}
