import type { SshConnection } from '../transport/ssh';

export interface RemoteHttpResponse {
  status: number;
  body: string;
}

/**
 * A GET to a port on the server's own loopback, made from the server itself through SSH with bash's /dev/tcp:
 * replica ports are not exposed, and servers need no curl. Returns status 0 when nothing answers.
 */
export async function remoteGet(ssh: SshConnection, port: number, path: string, timeoutSeconds = 2): Promise<RemoteHttpResponse> {
  const request = `GET ${path} HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n\\r\\n`;
  const command = `timeout ${timeoutSeconds} bash -c 'exec 3<>/dev/tcp/127.0.0.1/${port} && printf "${request}" >&3 && cat <&3' 2>/dev/null`;
  const result = await ssh.exec(command, { timeoutMs: (timeoutSeconds + 8) * 1000 });
  return parseResponse(result.stdout.toString());
}

export function parseResponse(raw: string): RemoteHttpResponse {
  const match = /^HTTP\/1\.[01] (\d{3})/.exec(raw);
  if (!match) return { status: 0, body: '' };
  const split = raw.indexOf('\r\n\r\n');
  return { status: Number(match[1]), body: split === -1 ? '' : raw.slice(split + 4) };
}
