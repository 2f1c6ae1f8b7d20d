/**
 * Team members: a name, one SSH public key and a role, per server group. The group state on the servers holds
 * them (services/groups) and each server's authorized_keys block is derived from it; the local SQLite caches them.
 */
import { randomBytes } from 'node:crypto';
import { AddMember, Role, type MemberView } from '../../../../shared/access';
import { BerthError } from '../../../../shared/errors';
import type { GroupState, StateMember } from '../../../../shared/group-state';
import type { Db } from '../store/database';
import { parsePublicKey } from './authorized-keys';

interface MemberRow {
  id: string;
  group_name: string | null;
  name: string;
  role: MemberView['role'];
  models: string | null;
  owner: string | null;
  public_key: string;
  key_type: string;
  fingerprint: string;
  created_at: string;
  updated_at: string;
}

const view = (row: MemberRow): MemberView => ({
  id: row.id,
  group: row.group_name,
  name: row.name,
  role: row.role,
  models: row.models === null ? null : (JSON.parse(row.models) as string[]),
  owner: row.owner,
  keyType: row.key_type,
  fingerprint: row.fingerprint,
  createdAt: row.created_at,
  updatedAt: row.updated_at,
});

/** The members this Berth knows (a cache of its groups' states), and the checking of new ones. */
export function createMemberStore(db: Db, now: () => Date = () => new Date()) {
  const q = {
    all: db.prepare<[], MemberRow>('SELECT * FROM members ORDER BY name, group_name'),
    get: db.prepare<[string], MemberRow>('SELECT * FROM members WHERE id = ?'),
  };

  function row(id: string): MemberRow {
    const found = q.get.get(id);
    if (!found) throw new BerthError('NotFound', `There is no team member ${id} (they may have been offboarded)`);
    return found;
  }

  return {
    list: (): MemberView[] => q.all.all().map(view),
    get: (id: string): MemberView => view(row(id)),
    /** The member's group (null: a member of a data folder that never published them). */
    groupOf: (id: string) => row(id).group_name,

    /** Checks a new member (their key above all) and makes their entry for the group state. */
    prepare(input: AddMember): { entry: StateMember; group: string | undefined } {
      const member = AddMember.parse(input);
      const key = parsePublicKey(member.publicKey);
      const at = now().toISOString();
      const entry: StateMember = {
        id: `m_${randomBytes(5).toString('hex')}`,
        name: member.name,
        role: member.role,
        ...(member.models ? { models: [...new Set(member.models)].sort() } : {}),
        ...(member.owner ? { owner: member.owner } : {}),
        publicKey: `${key.type} ${key.base64}`,
        keyType: key.type,
        fingerprint: key.fingerprint,
        createdAt: at,
        updatedAt: at,
      };
      return { entry, group: member.group };
    },
  };
}
export type MemberStore = ReturnType<typeof createMemberStore>;

/** Adds a member to a group state; refuses a second member of the same name or key in that group. */
export function addToState(state: GroupState, entry: StateMember, group: string): void {
  const byKey = state.members.find((m) => m.publicKey === entry.publicKey);
  if (byKey) throw new BerthError('Conflict', `That key (${entry.fingerprint}) already belongs to ${byKey.name} in group "${group}"`);
  if (state.members.some((m) => m.name === entry.name)) throw new BerthError('Conflict', `A team member named "${entry.name}" already exists in group "${group}"`);
  if (entry.owner) {
    const owner = state.members.find((m) => m.id === entry.owner);
    if (!owner) throw new BerthError('NotFound', `The member this key would belong to (${entry.owner}) is not in group "${group}" (offboarded meanwhile?)`);
    if (owner.owner) throw new BerthError('ValidationError', `${owner.name} is a CI runner’s key itself: a key belongs to a person`);
  }
  state.members.push(entry);
}

/** The member and the CI runners' keys that belong to them (with `withOwned`). */
export function offboarded(state: GroupState | null, id: string, withOwned: boolean): string[] {
  const owned = withOwned && state ? state.members.filter((m) => m.owner === id).map((m) => m.id) : [];
  return [id, ...owned];
}

/** Changes a member's role (and a deployer's models; null or absent: every model) in a group state; returns the role before. */
export function setRoleInState(state: GroupState, id: string, role: Role, at: string, models?: string[] | null): StateMember['role'] {
  const member = state.members.find((m) => m.id === id);
  if (!member) throw new BerthError('NotFound', `There is no team member ${id} in the group's state (they may have been offboarded by another Berth)`);
  const before = member.role;
  const scope = role === 'deployer' && models ? [...new Set(models)].sort() : undefined;
  if (before !== role || JSON.stringify(member.models) !== JSON.stringify(scope)) {
    member.role = Role.parse(role);
    if (scope) member.models = scope;
    else delete member.models;
    member.updatedAt = at;
  }
  return before;
}
