import { BerthError } from '../../../../shared/errors';
import { groupPlatforms, platformOfArch } from '../../../../shared/platform';
import type { GatewaySettings } from '../../../../shared/group-state';
import type { GroupView } from '../../../../shared/servers';
import type { Db } from '../store/database';

export interface ServerRow {
  id: number;
  name: string;
  host: string;
  port: number;
  username: string;
  auth: 'key' | 'agent';
  key_secret_id: number | null;
  key_origin: string | null;
  host_key_type: string;
  host_key_fingerprint: string;
  /** The identity the server keeps itself (services/groups); null until Berth first reached it. */
  uid: string | null;
  /** Docker's Architecture as the server's facts last said (x86_64, aarch64); null until Berth read them. */
  arch: string | null;
  /** `local`: this computer, reached through its own shell, not SSH (transport/local.ts). */
  transport: 'ssh' | 'local';
}

export interface NewServerRow {
  name: string;
  host: string;
  port: number;
  username: string;
  auth: 'key' | 'agent';
  keySecretId: number | null;
  keyOrigin: string | null;
  hostKeyType: string;
  hostKeyFingerprint: string;
  transport?: 'ssh' | 'local';
}

interface GroupRow {
  id: number;
  name: string;
  replicas: number;
  revision: number | null;
  changedBy: string | null;
  changedAt: string | null;
  refreshedAt: string | null;
  gatewaySettings: string | null;
}
const GROUP_COLUMNS =
  'id, name, replicas, state_revision AS revision, state_by AS changedBy, state_at AS changedAt, refreshed_at AS refreshedAt, gateway_settings AS gatewaySettings';

/** A group's HTTPS and binding settings, with the defaults of a group made before Berth served HTTPS. */
function gatewayView(json: string | null): Pick<GroupView, 'tls' | 'listen' | 'authority'> {
  const settings: GatewaySettings = json ? JSON.parse(json) : {};
  return { tls: settings.tls ?? 'off', listen: settings.listen ?? 'all', authority: settings.authority ?? null };
}

const isUniqueViolation = (err: unknown) => err instanceof Error && /UNIQUE constraint failed/.test(err.message);

/** Servers and groups in SQLite; Berth's own known_hosts is the pinned fingerprint column. */
export function createServerRegistry(db: Db, now: () => Date = () => new Date()) {
  const statements = {
    list: db.prepare<[], ServerRow>('SELECT * FROM servers ORDER BY name'),
    get: db.prepare<[number], ServerRow>('SELECT * FROM servers WHERE id = ?'),
    insert: db.prepare<Record<string, unknown>, ServerRow>(
      `INSERT INTO servers (name, host, port, username, auth, key_secret_id, key_origin, host_key_type, host_key_fingerprint, transport, created_at)
       VALUES (@name, @host, @port, @username, @auth, @keySecretId, @keyOrigin, @hostKeyType, @hostKeyFingerprint, @transport, @createdAt) RETURNING *`,
    ),
    remove: db.prepare('DELETE FROM servers WHERE id = ?'),
    placedVersions: db.prepare<[number], { model: string; number: number }>(
      'SELECT m.name AS model, v.number FROM placements p JOIN versions v ON v.id = p.version_id JOIN models m ON m.id = v.model_id WHERE p.server_id = ? ORDER BY m.name, v.number',
    ),
    setUid: db.prepare('UPDATE servers SET uid = ? WHERE id = ?'),
    setArch: db.prepare('UPDATE servers SET arch = ? WHERE id = ?'),
    setKey: db.prepare("UPDATE servers SET auth = 'key', key_secret_id = ?, key_origin = ? WHERE id = ?"),
    byUid: db.prepare<[string], ServerRow>('SELECT * FROM servers WHERE uid = ?'),
    groupsOfServer: db.prepare<[number], { name: string }>(
      'SELECT g.name FROM server_groups g JOIN server_group_members m ON m.group_id = g.id WHERE m.server_id = ? ORDER BY g.name',
    ),
    groups: db.prepare<[], GroupRow>(`SELECT ${GROUP_COLUMNS} FROM server_groups ORDER BY name`),
    groupById: db.prepare<[number], GroupRow>(`SELECT ${GROUP_COLUMNS} FROM server_groups WHERE id = ?`),
    groupByName: db.prepare<[string], GroupRow>(`SELECT ${GROUP_COLUMNS} FROM server_groups WHERE name = ?`),
    members: db.prepare<[number], { server_id: number; name: string; arch: string | null }>(
      'SELECT m.server_id, s.name, s.arch FROM server_group_members m JOIN servers s ON s.id = m.server_id WHERE m.group_id = ? ORDER BY m.server_id',
    ),
    insertGroup: db.prepare<[string, number, string, string], { id: number }>(
      'INSERT INTO server_groups (name, replicas, created_at, gateway_settings) VALUES (?, ?, ?, ?) RETURNING id',
    ),
    updateGroup: db.prepare('UPDATE server_groups SET replicas = ? WHERE id = ?'),
    removeGroup: db.prepare('DELETE FROM server_groups WHERE id = ?'),
    clearMembers: db.prepare('DELETE FROM server_group_members WHERE group_id = ?'),
    addMember: db.prepare('INSERT INTO server_group_members (group_id, server_id) VALUES (?, ?)'),
  };

  function get(id: number): ServerRow {
    const row = statements.get.get(id);
    if (!row) throw new BerthError('NotFound', `Server ${id} does not exist (it may have been removed)`);
    return row;
  }

  function toGroup({ gatewaySettings, ...row }: GroupRow): GroupView {
    const members = statements.members.all(row.id);
    const platforms = groupPlatforms(members.map((m) => ({ name: m.name, platform: platformOfArch(m.arch) })));
    return { ...row, serverIds: members.map((m) => m.server_id), ...platforms, ...gatewayView(gatewaySettings) };
  }

  function group(idOrName: number | string): GroupView {
    const row = typeof idOrName === 'number' ? statements.groupById.get(idOrName) : statements.groupByName.get(idOrName);
    if (!row) throw new BerthError('NotFound', `There is no server group "${idOrName}": create it on the Servers page or with \`berth groups create\``);
    return toGroup(row);
  }

  return {
    list: () => statements.list.all(),
    get,
    byUid: (uid: string) => statements.byUid.get(uid) ?? null,
    setUid(id: number, uid: string): void {
      const other = statements.byUid.get(uid);
      if (other && other.id !== id) {
        throw new BerthError('Conflict', `${get(id).name} is the same server as ${other.name} (identity ${uid}): it is already registered under that name`);
      }
      statements.setUid.run(uid, id);
    },
    /** What the server's facts said of its architecture (kept, so a group's platform is known before it is reached). */
    setArch: (id: number, arch: string) => void statements.setArch.run(arch, id),
    /** Logs in with another stored key from now on. */
    setKey(id: number, keySecretId: number, keyOrigin: string): void {
      statements.setKey.run(keySecretId, keyOrigin, id);
    },
    groupsOf: (serverId: number) => statements.groupsOfServer.all(serverId).map((g) => g.name),
    insert(server: NewServerRow): ServerRow {
      try {
        return statements.insert.get({ transport: 'ssh', ...server, createdAt: now().toISOString() })!;
      } catch (err) {
        if (isUniqueViolation(err)) {
          throw new BerthError('Conflict', `A server named "${server.name}" or at ${server.username}@${server.host}:${server.port} is already registered`);
        }
        throw err;
      }
    },
    remove(id: number): void {
      const { name } = get(id);
      const forget = `or, if it is gone for good, forget it (\`berth servers forget ${name}\`, or Forget on the Servers page)`;
      const groups = statements.groupsOfServer.all(id).map((g) => g.name);
      if (groups.length) throw new BerthError('Conflict', `Remove ${name} from its groups (${groups.join(', ')}) first, ${forget}`);
      const placed = statements.placedVersions.all(id).map((v) => `${v.model} v${v.number}`);
      if (placed.length) throw new BerthError('Conflict', `${name} still holds replicas of ${placed.join(', ')}: deploy those versions again without it, ${forget}`);
      statements.remove.run(id);
    },
    groups: () => statements.groups.all().map(toGroup),
    group,
    /** `gateway`: what its first revision says of HTTPS and binding (none: the defaults of a group made before HTTPS). */
    createGroup(name: string, replicas: number, gateway: GatewaySettings = {}): GroupView {
      try {
        return group(statements.insertGroup.get(name, replicas, now().toISOString(), JSON.stringify(gateway))!.id);
      } catch (err) {
        if (isUniqueViolation(err)) throw new BerthError('Conflict', `A group named "${name}" already exists`);
        throw err;
      }
    },
    updateGroup(id: number, change: { replicas?: number; serverIds?: number[] }): GroupView {
      group(id);
      db.transaction(() => {
        if (change.replicas !== undefined) statements.updateGroup.run(change.replicas, id);
        if (change.serverIds) {
          statements.clearMembers.run(id);
          for (const serverId of new Set(change.serverIds)) statements.addMember.run(id, get(serverId).id);
        }
      })();
      return group(id);
    },
    removeGroup: (id: number) => void statements.removeGroup.run(group(id).id),
  };
}
export type ServerRegistry = ReturnType<typeof createServerRegistry>;
