import { BerthError } from '../../../../shared/errors';
import { formatLogLine, formatSkipped, LogFollowInput, type LogSource } from '../../../../shared/logs';
import type { LogsService } from './follow';

export interface CliFollowOptions {
  model: string;
  version?: number;
  /** A server name; every server by default. */
  server?: string;
  tail?: number;
  since?: string;
  /** ANSI colors (when stdout is a terminal). */
  color?: boolean;
}

/**
 * `berth logs -f <model> [--version N] [--server NAME]`: follows every replica of the model and writes
 * prefixed lines until `signal` aborts (Ctrl-C). Source changes (a replica stopped, a server unreachable)
 * are written to `note`.
 */
export async function followLogsForCli(
  logs: LogsService,
  servers: Array<{ id: number; name: string }>,
  options: CliFollowOptions,
  write: (text: string) => void,
  note: (text: string) => void,
  signal: AbortSignal,
): Promise<void> {
  let serverIds: number[] | undefined;
  if (options.server) {
    const server = servers.find((s) => s.name === options.server);
    if (!server) throw new BerthError('NotFound', `No server named "${options.server}": see \`berth servers list\``);
    serverIds = [server.id];
  }
  const input = LogFollowInput.parse({
    target: { kind: 'model', model: options.model, ...(options.version ? { version: options.version } : {}), ...(serverIds ? { serverIds } : {}) },
    tail: options.tail ?? 100,
    ...(options.since ? { since: options.since } : {}),
  });
  const color = options.color ?? false;
  const sources = new Map<number, LogSource>();
  await logs.follow(
    input,
    (event) => {
      if (event.type === 'sources') {
        for (const source of event.sources) {
          const before = sources.get(source.id);
          if (!before || before.state !== source.state || before.message !== source.message) {
            note(`[${source.server}/${source.container}] ${source.state}${source.message ? `: ${source.message}` : ''}\n`);
          }
          sources.set(source.id, source);
        }
        if (event.sources.length === 0) note(`No containers of ${options.model} found yet; waiting…\n`);
        return;
      }
      let text = event.skipped ? formatSkipped(event.skipped, color) : '';
      for (const line of event.lines) text += formatLogLine(line, sources.get(line.s), color);
      write(text.replace(/\r\n/g, '\n'));
    },
    signal,
  );
}
