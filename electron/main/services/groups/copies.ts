/**
 * Reading state copies: parse one server's listing, verify each copy (schema, hash, group name), and choose the
 * group's current revision among the copies of all its servers.
 */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import { Revocation, StateFile, type StateRevision } from '../../../../shared/group-state';

export const sha256Hex = (text: string | Buffer) => createHash('sha256').update(text).digest('hex');

/** A revision's hash: sha256 over its canonical JSON (RFC 8785), so any implementation can recompute it. */
export const revisionHash = (revision: StateRevision) => sha256Hex(canonicalize(revision)!);

/** The exact bytes a state file holds: one JSON line. */
export const stateFileText = (file: StateFile) => `${JSON.stringify(file)}\n`;

export type CopyCheck =
  | { ok: true; file: StateFile; digest: string }
  | { ok: false; problem: string; digest: string };

/** One server's copy of one group's state, checked: never trusted before this says ok. */
export function checkCopy(group: string, line: string): CopyCheck {
  const digest = sha256Hex(`${line}\n`);
  let json: unknown;
  try {
    json = JSON.parse(line);
  } catch {
    return { ok: false, problem: 'the state file is not valid JSON (damaged)', digest };
  }
  const parsed = StateFile.safeParse(json);
  if (!parsed.success) {
    const issue = parsed.error.issues[0];
    return { ok: false, problem: `the state file does not match the schema at ${issue.path.join('.') || '(root)'}: ${issue.message}`, digest };
  }
  const file = parsed.data;
  if (file.revision.group !== group) return { ok: false, problem: `the state file names group "${file.revision.group}", not "${group}"`, digest };
  if (revisionHash(file.revision) !== file.hash) return { ok: false, problem: `revision ${file.revision.revision} does not match its hash (damaged or edited)`, digest };
  return { ok: true, file, digest };
}

export interface ServerListing {
  uid: string | null;
  /** Each group's copy on this server, as text. */
  states: Map<string, string>;
  revocations: Map<string, Revocation[]>;
  /** sha256 of the whole listing: what the derive step checks under its lock. */
  digest: string;
}

export function parseListing(stdout: string): ServerListing {
  const listing: ServerListing = { uid: null, states: new Map(), revocations: new Map(), digest: sha256Hex(stdout) };
  for (const line of stdout.split('\n')) {
    const [kind, ...rest] = line.split('\t');
    if (kind === 'identity') listing.uid = parseIdentity(rest.join('\t'));
    else if (kind === 'state' && rest.length >= 2) listing.states.set(rest[0], rest.slice(1).join('\t'));
    else if (kind === 'revoked' && rest.length >= 2) {
      const revocation = parseRevocation(rest.slice(1).join('\t'));
      if (revocation) listing.revocations.set(rest[0], [...(listing.revocations.get(rest[0]) ?? []), revocation]);
    }
  }
  return listing;
}

function parseIdentity(text: string): string | null {
  try {
    const uid = (JSON.parse(text) as { uid?: unknown }).uid;
    return typeof uid === 'string' && /^srv_[0-9a-f]{16}$/.test(uid) ? uid : null;
  } catch {
    return null;
  }
}

/** A damaged revocation line is skipped: revocations only take rights away, and each is also in the revisions. */
function parseRevocation(text: string): Revocation | null {
  try {
    const parsed = Revocation.safeParse(JSON.parse(text));
    return parsed.success ? parsed.data : null;
  } catch {
    return null;
  }
}

export type CopyState = 'current' | 'behind' | 'missing' | 'damaged' | 'unreachable' | 'diverged';

export interface ServerCopy {
  serverUid: string;
  check: CopyCheck | null;
  /** Why the server could not be read. */
  unreachable?: string;
}

/**
 * The group's current revision: the highest verified one; when two copies claim the same revision with different
 * contents, the one more servers hold. Every copy is then classified against it.
 */
export function chooseCurrent(copies: ServerCopy[]): { current: StateFile | null; states: Map<string, { state: CopyState; detail?: string }> } {
  const verified = copies.flatMap((c) => (c.check?.ok ? [c.check.file] : []));
  const votes = new Map<string, { file: StateFile; count: number }>();
  for (const file of verified) votes.set(file.hash, { file, count: (votes.get(file.hash)?.count ?? 0) + 1 });
  const current =
    [...votes.values()].sort((a, b) => b.file.revision.revision - a.file.revision.revision || b.count - a.count)[0]?.file ?? null;

  const states = new Map<string, { state: CopyState; detail?: string }>();
  for (const copy of copies) states.set(copy.serverUid, classify(copy, current));
  return { current, states };
}

function classify(copy: ServerCopy, current: StateFile | null): { state: CopyState; detail?: string } {
  if (copy.unreachable !== undefined) return { state: 'unreachable', detail: copy.unreachable };
  if (!copy.check) return { state: 'missing' };
  if (!copy.check.ok) return { state: 'damaged', detail: copy.check.problem };
  const file = copy.check.file;
  if (!current || file.hash === current.hash) return { state: 'current' };
  if (file.revision.revision < current.revision.revision) return { state: 'behind', detail: `at revision ${file.revision.revision}` };
  return { state: 'diverged', detail: `holds another revision ${file.revision.revision} (${file.hash.slice(0, 12)})` };
}
