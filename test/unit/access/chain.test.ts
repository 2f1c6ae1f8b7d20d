import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { canonical, GENESIS, linkHash, parseAuditFile, verifyLinks } from '../../../electron/main/services/access/audit/chain';

const appender = resolve(__dirname, '../../../resources/server/berth-audit-append');

/** Appends entries with the real server script (bash, sha256sum, flock) into a temporary berth dir. */
function serverFile(entries: unknown[]): string {
  const dir = mkdtempSync(join(tmpdir(), 'berth-chain-'));
  for (const entry of entries) execFileSync('bash', [appender, dir], { input: canonical(entry) });
  return join(dir, 'audit/audit.jsonl');
}

const entries = [
  { v: 1, action: 'key.create', target: 'key_1', actor: 'alice', details: { scope: { kind: 'all' }, note: 'ünïcödé "quoted" \\ back' } },
  { v: 1, action: 'deploy', target: 'iris v1', actor: 'bob', details: {} },
  { v: 1, action: 'member.add', target: 'Carol', actor: 'alice', details: { n: 1.5, big: 1e21 } },
  { v: 1, action: 'lock.break', target: 'iris', actor: 'alice', details: { list: [3, 2, 1] } },
];

describe('audit hash chain', () => {
  it('the server appender and Berth hash the same canonical JSON (RFC 8785)', () => {
    const links = parseAuditFile(readFileSync(serverFile(entries), 'utf8'));
    expect(links).toHaveLength(4);
    expect(verifyLinks(links)).toEqual({ ok: true, entries: 4, breaks: [] });
    const first = links[0] as { seq: number; prev: string; hash: string; entry: unknown };
    expect(first.prev).toBe(GENESIS);
    expect(first.hash).toBe(linkHash(1, GENESIS, entries[0]));
  });

  it('canonical JSON sorts keys and normalizes numbers', () => {
    expect(canonical({ b: 1, a: [{ y: 2, x: 1.0 }], c: 1e21 })).toBe('{"a":[{"x":1,"y":2}],"b":1,"c":1e+21}');
  });

  const tamper = (edit: (lines: string[]) => string[]) => {
    const file = serverFile(entries);
    const lines = readFileSync(file, 'utf8').trim().split('\n');
    writeFileSync(file, edit(lines).join('\n') + '\n');
    return verifyLinks(parseAuditFile(readFileSync(file, 'utf8')));
  };

  it('finds an edited entry', () => {
    const check = tamper((l) => l.map((line, i) => (i === 1 ? line.replace('iris v1', 'iris v9') : line)));
    expect(check.ok).toBe(false);
    expect(check.breaks[0]).toEqual({ position: 2, seq: 2, reason: 'entry 2 was edited: its content does not match its hash' });
  });

  it('finds an edit whose hash was recomputed: the next entry no longer follows', () => {
    const check = tamper((l) =>
      l.map((line, i) => {
        if (i !== 1) return line;
        const parsed = JSON.parse(line);
        parsed.entry.target = 'iris v9';
        parsed.hash = linkHash(parsed.seq, parsed.prev, parsed.entry);
        return JSON.stringify({ hash: parsed.hash, seq: parsed.seq, prev: parsed.prev, entry: parsed.entry });
      }),
    );
    expect(check.breaks.map((b) => b.position)).toEqual([3]);
    expect(check.breaks[0].reason).toMatch(/entry 3 does not follow the entry before it/);
  });

  it('finds a deleted entry', () => {
    const check = tamper((l) => l.filter((_, i) => i !== 1));
    expect(check.breaks[0]).toMatchObject({ position: 2, seq: 3 });
    expect(check.breaks[0].reason).toMatch(/entry 3 follows entry 1: 1 entry is missing or out of order/);
  });

  it('finds reordered entries', () => {
    const check = tamper((l) => [l[0], l[2], l[1], l[3]]);
    expect(check.ok).toBe(false);
    expect(check.breaks[0].position).toBe(2);
    expect(check.breaks.map((b) => b.position)).toContain(3);
  });

  it('reports a damaged line and refuses to chain onto it', () => {
    const file = serverFile(entries.slice(0, 2));
    writeFileSync(file, readFileSync(file, 'utf8') + 'garbage\n');
    const check = verifyLinks(parseAuditFile(readFileSync(file, 'utf8')));
    expect(check.breaks).toEqual([{ position: 3, seq: null, reason: 'line 3 is not a valid audit entry (not JSON)' }]);
    const dir = join(file, '../..');
    let error: { status: number; stderr: Buffer } | undefined;
    try {
      execFileSync('bash', [appender, dir], { input: canonical(entries[2]), stdio: 'pipe' });
    } catch (err) {
      error = err as typeof error;
    }
    expect(error?.status).toBe(65);
    expect(error?.stderr.toString()).toMatch(/last line of .* is damaged/);
  });

  it('the appender refuses multi-line or non-object input', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-chain-'));
    for (const input of ['{"a":1}\n{"b":2}', '[1,2]', 'hello']) {
      expect(() => execFileSync('bash', [appender, dir], { input, stdio: 'pipe' })).toThrow();
    }
  });
});
