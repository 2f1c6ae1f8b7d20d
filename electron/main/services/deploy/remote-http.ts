import { command } from '../remote/command';
import type { SshConnection } from '../transport/ssh';

export interface RemoteHttpResponse {
  status: number;
  body: string;
}

/** One HTTP/1.0 GET through bash's /dev/tcp: $1 is the port, $2 the path (a printf argument, never its format). */
const HTTP_GET = 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "GET %s HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n\\r\\n" "$2" >&3 && cat <&3';

const httpGet = (port: number, path: string, timeoutSeconds: number) =>
  command('bash', '-c', HTTP_GET, 'remote-get', port, path).under('timeout', timeoutSeconds).withoutErrorOutput().asVerb(['probe', port, path]);

/**
 * A GET to a port on the server's own loopback, made from the server itself through SSH with bash's /dev/tcp:
 * replica ports are not exposed, and servers need no curl. Returns status 0 when nothing answers.
 */
export async function remoteGet(ssh: SshConnection, port: number, path: string, timeoutSeconds = 2): Promise<RemoteHttpResponse> {
  const result = await ssh.exec(httpGet(port, path, timeoutSeconds), { timeoutMs: (timeoutSeconds + 8) * 1000 });
  return parseResponse(result.stdout.toString());
}

export function parseResponse(raw: string): RemoteHttpResponse {
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
  if (!match) return { status: 0, body: '' };
  const split = raw.indexOf('\r\n\r\n');
  return { status: Number(match[1]), body: split === -1 ? '' : raw.slice(split + 4) };
}
