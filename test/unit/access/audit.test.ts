import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { auditCommand } from '../../../electron/main/services/access/audit/cli';
import { createAuditService } from '../../../electron/main/services/access/audit/service';
import { defaultLayout } from '../../../electron/main/services/remote/layout';
import { openDatabase } from '../../../electron/main/services/store/database';

function setup() {
  const db = openDatabase(join(mkdtempSync(join(tmpdir(), 'berth-audit-')), 'berth.db'));
  let clock = Date.parse('2030-05-01T10:00:00Z');
  const audit = createAuditService({
    db,
    servers: () => [],
    connection: () => Promise.reject(new Error('no servers in unit tests')),
    layout: defaultLayout,
    actor: () => ({ actor: 'alice', machine: 'laptop-1' }),
    now: () => new Date((clock += 60_000)),
  });
  return { db, audit };
}

async function fill(audit: ReturnType<typeof setup>['audit']) {
  await audit.record({ action: 'key.create', target: 'key_1', details: { name: 'billing' } });
  await audit.record({ action: 'deploy', target: 'iris v1', actor: 'bob', machine: 'ci-runner' });
  await audit.record({ action: 'member.add', target: 'Carol', result: 'partial' });
  await audit.record({ action: 'key.revoke', target: 'key_1' });
}

describe('audit log (SQLite copy)', () => {
  it('records who, when, what, from where and the result, newest first', async () => {
    const { audit } = setup();
    await fill(audit);
    const entries = audit.list();
    expect(entries.map((e) => [e.seq, e.action, e.actor, e.machine, e.result])).toEqual([
      [4, 'key.revoke', 'alice', 'laptop-1', 'ok'],
      [3, 'member.add', 'alice', 'laptop-1', 'partial'],
      [2, 'deploy', 'bob', 'ci-runner', 'ok'],
      [1, 'key.create', 'alice', 'laptop-1', 'ok'],
    ]);
    expect(entries[3]).toMatchObject({ at: '2030-05-01T10:01:00.000Z', target: 'key_1', details: { name: 'billing' }, deliveries: [] });
    expect(entries[0].prev).toBe(entries[1].hash);
  });

  it('filters by who, what (key matches key.*), target and time', async () => {
    const { audit } = setup();
    await fill(audit);
    expect(audit.list({ actor: 'bob' }).map((e) => e.seq)).toEqual([2]);
    expect(audit.list({ action: 'key' }).map((e) => e.seq)).toEqual([4, 1]);
    expect(audit.list({ action: 'key.create' }).map((e) => e.seq)).toEqual([1]);
    expect(audit.list({ target: 'iris' }).map((e) => e.seq)).toEqual([2]);
    expect(audit.list({ since: '2030-05-01T10:02:00Z', until: '2030-05-01T10:03:00Z' }).map((e) => e.seq)).toEqual([3, 2]);
    expect(audit.list({ limit: 1 }).map((e) => e.seq)).toEqual([4]);
  });

  it('is append-only for ordinary SQL: updates and deletes are refused', async () => {
    const { db, audit } = setup();
    await fill(audit);
    expect(() => db.prepare("UPDATE audit_log SET entry = '{}' WHERE seq = 2").run()).toThrow(/append-only/);
    expect(() => db.prepare('DELETE FROM audit_log WHERE seq = 4').run()).toThrow(/append-only/);
    expect(audit.verifyLocal()).toEqual({ ok: true, entries: 4, breaks: [] });
  });

  it('shows where the chain breaks when someone edits, deletes or cuts entries anyway', async () => {
    const edited = setup();
    await fill(edited.audit);
    edited.db.exec('DROP TRIGGER audit_log_append_only_update');
    edited.db.prepare("UPDATE audit_log SET entry = replace(entry, 'bob', 'mallory') WHERE seq = 2").run();
    expect(edited.audit.verifyLocal().breaks).toEqual([{ position: 2, seq: 2, reason: 'entry 2 was edited: its content does not match its hash' }]);

    const deleted = setup();
    await fill(deleted.audit);
    deleted.db.exec('DROP TRIGGER audit_log_append_only_delete');
    deleted.db.prepare('DELETE FROM audit_log WHERE seq = 2').run();
    expect(deleted.audit.verifyLocal().breaks[0]).toMatchObject({ position: 2, seq: 3 });

    const cut = setup();
    await fill(cut.audit);
    cut.db.exec('DROP TRIGGER audit_log_append_only_delete');
    cut.db.prepare('DELETE FROM audit_log WHERE seq >= 3').run();
    expect(cut.audit.verifyLocal().breaks).toEqual([{ position: 3, seq: 3, reason: 'entries 3–4 were removed from the end of the log' }]);
  });

  it('records the outcome of an action around it, including failures', async () => {
    const { audit } = setup();
    expect(await audit.around({ action: 'server.add', target: 'tb1' }, async () => 42)).toBe(42);
    await expect(
      audit.around({ action: 'server.remove', target: 'tb2' }, () => {
        throw new Error('still in group prod');
      }),
    ).rejects.toThrow('still in group prod');
    await new Promise((r) => setTimeout(r, 20));
    const [removed, added] = audit.list();
    expect(added).toMatchObject({ action: 'server.add', target: 'tb1', result: 'ok' });
    expect(removed).toMatchObject({ action: 'server.remove', result: 'failed', details: { error: 'Internal: still in group prod' } });
  });

  it('refuses malformed entries', async () => {
    const { audit } = setup();
    await expect(audit.record({ action: 'Deploy Now', target: 'x' })).rejects.toThrow(/audit action/);
  });

  it('serves `berth audit` for the CLI: list, filter, verify with an exit code', async () => {
    const { db, audit } = setup();
    await fill(audit);
    const listed = await auditCommand(audit, ['--action', 'key']);
    expect(listed.code).toBe(0);
    expect(listed.output.split('\n')).toHaveLength(2);
    expect(listed.output).toMatch(/^#4\t2030-05-01T10:04:00.000Z\talice@laptop-1\tkey.revoke\tkey_1\tok\t-/);
    expect(await auditCommand(audit, ['--verify'])).toEqual({ output: 'Berth database: chain verified (4 entries)', code: 0 });
    db.exec('DROP TRIGGER audit_log_append_only_update');
    db.prepare("UPDATE audit_log SET entry = replace(entry, 'Carol', 'Eve') WHERE seq = 3").run();
    const verified = await auditCommand(audit, ['--verify']);
    expect(verified.code).toBe(1);
    expect(verified.output).toMatch(/Berth database: TAMPERED at entry 3 \(4 entries\)\n {2}- entry 3 was edited/);
    await expect(auditCommand(audit, ['--bogus'])).rejects.toThrow(/Unknown option/);
  });
});
