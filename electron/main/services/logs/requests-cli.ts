/**
 * `berth logs requests <model> …` for the CLI (electron/main/cli.ts calls this through cli-pages.ts): the Logs
 * page's request search. Pulls the servers' logs first (inference.sync), then searches the local store.
 */
import { BerthError } from '../../../../shared/errors';
import type { InferenceRecord, InferenceSearchResult } from '../../../../shared/logs';
import { isoTime, json, parseCommand, positionals, wholeNumber, type Call, type CliIo } from '../../rpc/cli-kit';

export const requestsUsage = 'berth logs requests <model> [--version N] [--status ok|error|client_error|server_error|CODE] [--query TEXT] [--since ISO] [--limit N] [--json]';

const options = {
  version: { type: 'string' },
  status: { type: 'string' },
  query: { type: 'string' },
  since: { type: 'string' },
  limit: { type: 'string' },
  json: { type: 'boolean' },
} as const;

/** One line, tabs and newlines flattened, so a record stays one line of output. */
const flat = (text: string | null, max = 200) => {
  const one = (text ?? '-').replace(/\s+/g, ' ');
  return one.length > max ? `${one.slice(0, max)}…` : one;
};

/** The caller as people know it: the key's name; "no key" for a public model's call (the gateway says "public") or one refused before its key was read. */
const callerText = (caller: string | null, keyNames: Map<string, string>) => (caller === null || caller === 'public' ? 'no key' : (keyNames.get(caller) ?? caller));

function recordLine(r: InferenceRecord, keyNames: Map<string, string>): string {
  const version = r.version ? `v${r.version}${r.alias ? ` (${r.alias})` : ''}` : '-';
  const latency = r.latencyMs === null ? '-' : `${r.latencyMs} ms`;
  return [r.ts, r.server, version, r.status ?? '-', latency, flat(callerText(r.caller, keyNames)), r.requestId, `in ${flat(r.input)}`, r.error ? `error ${flat(r.error)}` : `out ${flat(r.output)}`].join('\t');
}

/** `berth logs requests`: parses now (a usage error never waits for the servers), runs with the contract. */
export function requestsCommand(argv: string[]): (call: Call, io: CliIo) => Promise<number> {
  const { values, positionals: given } = parseCommand(argv, options, requestsUsage);
  const [model] = positionals(given, ['<model>'], requestsUsage);
  const query = {
    model,
    version: values.version === undefined ? undefined : String(wholeNumber(values.version, '--version')),
    // A status code is a number to the contract; the classes are words.
    status: values.status === undefined ? undefined : /^\d+$/.test(values.status) ? Number(values.status) : (values.status as 'ok'),
    text: values.query,
    from: values.since === undefined ? undefined : isoTime(values.since, '--since'),
    limit: values.limit === undefined ? undefined : wholeNumber(values.limit, '--limit'),
  };
  return async (call, io) => {
    const models = await call('deploy.models', {});
    if (!models.includes(model)) throw new BerthError('NotFound', `No model named "${model}" (models: ${models.join(', ') || 'none'})`);
    const pulled = await call('inference.sync', {});
    for (const s of pulled.servers) if (s.error) io.err(`warning: the request logs of ${s.server} were not pulled: ${s.error}`);
    const found = await call('inference.search', query);
    const keyNames = new Map((await call('access.keys', {})).map((k) => [k.id, k.name]));
    io.out(values.json ? json(found) : found.records.map((r) => recordLine(r, keyNames)).join('\n') || 'No requests match.');
    warnSearch(found, io);
    return 0;
  };
}

function warnSearch(found: InferenceSearchResult, io: CliIo): void {
  for (const gap of found.gaps) io.err(`warning: ${gap.server}: ${gap.message}`);
  if (found.more) io.err('note: more requests match: raise --limit (at most 1000) or narrow the search');
}
