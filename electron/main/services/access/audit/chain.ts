/**
 * The audit hash chain. Every link is  {seq, prev, entry}  and its hash is sha256 over the canonical JSON
 * (RFC 8785) of exactly that object. The same rule holds in SQLite and in each server's audit.jsonl, where
 * resources/server/berth-audit-append builds the canonical text with printf (sorted keys: entry, prev, seq).
 */
import { createHash } from 'node:crypto';
import canonicalize from 'canonicalize';
import type { ChainBreak, ChainCheck } from '../../../../../shared/access';

export const GENESIS = '0'.repeat(64);

export function canonical(value: unknown): string {
  const text = canonicalize(value);
  if (text === undefined) throw new Error('Cannot canonicalize an undefined value');
  return text;
}

export function linkHash(seq: number, prev: string, entry: unknown): string {
  return createHash('sha256').update(canonical({ entry, prev, seq }), 'utf8').digest('hex');
}

export interface Link {
  seq: number;
  prev: string;
  hash: string;
  entry: unknown;
}

/**
 * Walks a chain in storage order and reports every place it breaks: a link whose hash does not match its
 * content (edited), whose prev is not the hash before it (deleted, inserted or reordered), or whose seq skips.
 * `position` is 1-based storage order (row or line number).
 */
export function verifyLinks(links: Array<Link | { unreadable: string }>): ChainCheck {
  const breaks: ChainBreak[] = [];
  let prevHash = GENESIS;
  let expectedSeq = 1;
  links.forEach((link, index) => {
    const position = index + 1;
    if ('unreadable' in link) {
      breaks.push({ position, seq: null, reason: `line ${position} is not a valid audit entry (${link.unreadable})` });
      prevHash = '';
      expectedSeq++;
      return;
    }
    if (link.seq !== expectedSeq) {
      breaks.push({
        position,
        seq: link.seq,
        reason:
          link.seq > expectedSeq
            ? `entry ${link.seq} follows entry ${expectedSeq - 1}: ${link.seq - expectedSeq} entr${link.seq - expectedSeq === 1 ? 'y is' : 'ies are'} missing or out of order`
            : `entry ${link.seq} appears again or out of order after entry ${expectedSeq - 1}`,
      });
    }
    if (linkHash(link.seq, link.prev, link.entry) !== link.hash) {
      breaks.push({ position, seq: link.seq, reason: `entry ${link.seq} was edited: its content does not match its hash` });
    } else if (prevHash && link.prev !== prevHash) {
      breaks.push({
        position,
        seq: link.seq,
        reason: `entry ${link.seq} does not follow the entry before it (its prev hash differs): an entry was removed, inserted or moved`,
      });
    }
    prevHash = link.hash;
    expectedSeq = link.seq + 1;
  });
  return { ok: breaks.length === 0, entries: links.length, breaks };
}

/** Parses a server's audit.jsonl (lines {"hash","seq","prev","entry"}); damaged lines become `unreadable`. */
export function parseAuditFile(text: string): Array<Link | { unreadable: string }> {
  const lines = text.split('\n');
  if (lines.at(-1) === '') lines.pop();
  return lines.map((line) => {
    try {
      const value = JSON.parse(line) as Partial<Link>;
      if (
        typeof value.seq === 'number' &&
        typeof value.prev === 'string' &&
        typeof value.hash === 'string' &&
        typeof value.entry === 'object' &&
        value.entry !== null
      ) {
        return { seq: value.seq, prev: value.prev, hash: value.hash, entry: value.entry };
      }
      return { unreadable: 'a field is missing' };
    } catch {
      return { unreadable: 'not JSON' };
    }
  });
}
