import { randomBytes } from 'node:crypto';
import { AddMember, Role, type MemberView } from '../../../../shared/access';
import { BerthError } from '../../../../shared/errors';
import type { Db } from '../store/database';
import { parsePublicKey, type MemberKey } from './authorized-keys';

interface MemberRow {
  id: string;
  name: string;
  role: MemberView['role'];
  public_key: string;
  key_type: string;
  fingerprint: string;
  created_at: string;
  updated_at: string;
}

const isUniqueViolation = (err: unknown) => err instanceof Error && /UNIQUE constraint failed/.test(err.message);

/** Team members in SQLite: a name, one SSH public key and a role. */
export function createMemberStore(db: Db, now: () => Date = () => new Date()) {
  const q = {
    all: db.prepare<[], MemberRow>('SELECT * FROM members ORDER BY name'),
    get: db.prepare<[string], MemberRow>('SELECT * FROM members WHERE id = ?'),
    insert: db.prepare(
      `INSERT INTO members (id, name, role, public_key, key_type, fingerprint, created_at, updated_at)
       VALUES (@id, @name, @role, @publicKey, @keyType, @fingerprint, @at, @at)`,
    ),
    setRole: db.prepare('UPDATE members SET role = ?, updated_at = ? WHERE id = ?'),
    remove: db.prepare('DELETE FROM members WHERE id = ?'),
  };

  const view = (row: MemberRow): MemberView => ({
    id: row.id,
    name: row.name,
    role: row.role,
    keyType: row.key_type,
    fingerprint: row.fingerprint,
    createdAt: row.created_at,
    updatedAt: row.updated_at,
  });

  function get(id: string): MemberRow {
    const row = q.get.get(id);
    if (!row) throw new BerthError('NotFound', `There is no team member ${id} (they may have been offboarded)`);
    return row;
  }

  return {
    list: () => q.all.all().map(view),
    get: (id: string) => view(get(id)),
    /** What the servers need: id, role and key of everyone. */
    keys: (): MemberKey[] => q.all.all().map((r) => ({ id: r.id, role: r.role, publicKey: r.public_key })),

    add(input: AddMember): MemberView {
      const member = AddMember.parse(input);
      const key = parsePublicKey(member.publicKey);
      const id = `m_${randomBytes(5).toString('hex')}`;
      try {
        q.insert.run({
          id,
          name: member.name,
          role: member.role,
          publicKey: `${key.type} ${key.base64}`,
          keyType: key.type,
          fingerprint: key.fingerprint,
          at: now().toISOString(),
        });
      } catch (err) {
        if (isUniqueViolation(err)) {
          const byKey = q.all.all().find((r) => r.fingerprint === key.fingerprint);
          throw new BerthError(
            'Conflict',
            byKey ? `That key (${key.fingerprint}) already belongs to ${byKey.name}` : `A team member named "${member.name}" already exists`,
          );
        }
        throw err;
      }
      return view(get(id));
    },

    setRole(id: string, role: MemberView['role']): { before: MemberView; after: MemberView } {
      const before = view(get(id));
      q.setRole.run(Role.parse(role), now().toISOString(), id);
      return { before, after: view(get(id)) };
    },

    remove(id: string): MemberView {
      const member = view(get(id));
      q.remove.run(id);
      return member;
    },
  };
}
export type MemberStore = ReturnType<typeof createMemberStore>;
