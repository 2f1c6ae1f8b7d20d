import { createHash } from 'node:crypto';
import { BerthError } from '../../../../shared/errors';
import { RoutesFile, type RoutesFileInput } from '../../../../shared/gateway';
import { command, script } from '../remote/command';
import { DEFAULT_GATEWAY, routesPathOf, type GatewayInstance, type RemoteShell } from './remote';

/** The hash the gateway compares against: lowercase hex sha256 of the secret (the secret never leaves Berth). */
export const keyHash = (secret: string) => createHash('sha256').update(secret, 'utf8').digest('hex');

/** Validates a routes table; a table the gateway would refuse never reaches a server. */
export function checkRoutes(routes: RoutesFileInput): RoutesFile {
  const parsed = RoutesFile.safeParse(routes);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    throw new BerthError('ValidationError', `Invalid gateway routes at ${issue.path.join('.') || '(root)'}: ${issue.message}`, parsed.error.issues);
  }
  return parsed.data;
}

/** Puts stdin at $2 by way of a temporary file in its folder $1; the temporary file never outlives a failure. */
const WRITE_ROUTES =
  'mkdir -p "$1" && tmp=$(mktemp "$1/.routes.json.XXXXXX") && ' +
  '{ cat > "$tmp" && chmod 644 "$tmp" && mv -f "$tmp" "$2"; } || { rm -f "$tmp"; exit 1; }';

/**
 * Writes routes.json on a server atomically: a temporary file in the same folder, then `mv` over the old one,
 * so the gateway (which polls every 200 ms) reads either the old table or the new one, never half a file.
 */
export async function writeRoutes(
  ssh: RemoteShell,
  routes: RoutesFileInput,
  options: { timeoutMs?: number; instance?: GatewayInstance } = {},
): Promise<RoutesFile> {
  const table = checkRoutes(routes);
  const instance = options.instance ?? DEFAULT_GATEWAY;
  await ssh.run(script(WRITE_ROUTES, instance.dir, routesPathOf(instance)), {
    stdin: `${JSON.stringify(table, null, 1)}\n`,
    timeoutMs: options.timeoutMs ?? 15_000,
  });
  return table;
}

/** The routes.json a server has now, or null when it has none yet. */
export async function readRoutes(ssh: RemoteShell, instance: GatewayInstance = DEFAULT_GATEWAY): Promise<RoutesFile | null> {
  const path = routesPathOf(instance);
  const result = await ssh.exec(command('cat', path), { timeoutMs: 15_000 });
  if (result.code !== 0) {
    if (/No such file/.test(result.stderr)) return null;
    throw new BerthError('RemoteCommandFailed', `Cannot read ${path} on ${ssh.target.host}: ${result.stderr.trim()}`);
  }
  let json: unknown;
  try {
    json = JSON.parse(result.stdout.toString('utf8'));
  } catch {
    throw new BerthError('ValidationError', `${path} on ${ssh.target.host} is not valid JSON; Berth will replace it on the next write`);
  }
  return checkRoutes(json as RoutesFileInput);
}
