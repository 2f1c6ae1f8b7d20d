/**
 * API keys. The group state on the servers holds each key's sha256, scope, expiry and revocation (services/groups);
 * the local SQLite caches them, plus the request counts this Berth pulled from the gateways' logs. A secret exists
 * only in the answer to its creation: it is never stored, here or on a server.
 */
import { createHash, randomBytes } from 'node:crypto';
import { CreateKey, type ApiKeyView, type KeyUsage, type ModelAccessView } from '../../../../shared/access';
import { BerthError } from '../../../../shared/errors';
import type { StateKey } from '../../../../shared/group-state';
import type { Db } from '../store/database';

const BASE62 = '0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz';
export const SECRET_PREFIX = 'brt_';
const SECRET_CHARS = 40; // 40 × log2(62) ≈ 238 bits

/** `brt_` + 40 base62 characters from the CSPRNG (rejection sampling keeps every character uniform). */
export function generateSecret(): string {
  let out = '';
  while (out.length < SECRET_CHARS) {
    for (const byte of randomBytes(64)) {
      if (byte < 248 && out.length < SECRET_CHARS) out += BASE62[byte % 62];
    }
  }
  return SECRET_PREFIX + out;
}

export const sha256Hex = (text: string) => createHash('sha256').update(text, 'utf8').digest('hex');

interface KeyRow {
  id: string;
  group_name: string | null;
  name: string;
  sha256: string;
  scope: string;
  expires_at: string | null;
  created_by: string;
  created_at: string;
  revoked_at: string | null;
  revoked_by: string | null;
  requests: number;
  last_used_at: string | null;
}

/**
 * Per-key request counts from the logs service's inference log (table `inference_requests`, one row per request,
 * `caller` = the key id the gateway saw). Returns [] while that table does not exist.
 */
export function usageFromInferenceLog(db: Db): KeyUsage[] {
  const table = db.prepare("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = 'inference_requests'").get();
  if (!table) return [];
  const rows = db
    .prepare<[], { caller: string; requests: number; last: number | null }>(
      "SELECT caller, COUNT(*) AS requests, MAX(ts_ms) AS last FROM inference_requests WHERE caller LIKE 'key\\_%' ESCAPE '\\' GROUP BY caller",
    )
    .all();
  return rows.map((r) => ({ keyId: r.caller, requests: r.requests, lastUsedAt: r.last === null ? null : new Date(r.last).toISOString() }));
}

export interface KeyStoreDeps {
  db: Db;
  now?: () => Date;
  /** Live request counts (e.g. from the logs service); without it, the counts last given to setUsage are shown. */
  usage?: () => KeyUsage[];
}

/** A key about to be created: what goes into the group state, and the secret shown once. */
export interface NewKey {
  entry: StateKey;
  secret: string;
}

/** The keys this Berth knows (a cache of its groups' states), and the making of new ones. */
export function createKeyStore(deps: KeyStoreDeps) {
  const { db } = deps;
  const now = deps.now ?? (() => new Date());
  const q = {
    all: db.prepare<[], KeyRow>('SELECT * FROM api_keys ORDER BY created_at DESC, id'),
    get: db.prepare<[string], KeyRow>('SELECT * FROM api_keys WHERE id = ?'),
    usage: db.prepare('UPDATE api_keys SET requests = ?, last_used_at = ? WHERE id = ?'),
    models: db.prepare<[], { id: number; name: string; public: number; group_name: string | null }>('SELECT id, name, public, group_name FROM models ORDER BY name'),
    model: db.prepare<[string], { id: number; public: number; group_name: string | null }>('SELECT id, public, group_name FROM models WHERE name = ?'),
    versions: db.prepare<[number], { number: number }>("SELECT number FROM versions WHERE model_id = ? AND state != 'retired' ORDER BY number"),
  };

  function stateOf(row: KeyRow): ApiKeyView['state'] {
    if (row.revoked_at) return 'revoked';
    if (row.expires_at && Date.parse(row.expires_at) <= now().getTime()) return 'expired';
    return 'active';
  }

  function view(row: KeyRow, live?: Map<string, KeyUsage>): ApiKeyView {
    const usage = live?.get(row.id);
    return {
      id: row.id,
      group: row.group_name,
      name: row.name,
      scope: JSON.parse(row.scope),
      expiresAt: row.expires_at,
      createdBy: row.created_by,
      createdAt: row.created_at,
      revokedAt: row.revoked_at,
      revokedBy: row.revoked_by,
      state: stateOf(row),
      requests: usage?.requests ?? row.requests,
      lastUsedAt: usage?.lastUsedAt ?? row.last_used_at,
    };
  }

  function row(id: string): KeyRow {
    const found = q.get.get(id);
    if (!found) throw new BerthError('NotFound', `There is no API key ${id}`);
    return found;
  }

  function liveUsage(): Map<string, KeyUsage> | undefined {
    if (!deps.usage) return undefined;
    try {
      return new Map(deps.usage().map((u) => [u.keyId, u]));
    } catch {
      return undefined; // counts are informative; a failing source falls back to the stored ones
    }
  }

  /** The message for a scope naming a model nobody deployed (from the cache, or from a group state). */
  function unknownModel(model: string, known: string[]): BerthError {
    return new BerthError(
      'NotFound',
      `No model named "${model}" has been deployed${known.length ? ` (models: ${[...known].sort().join(', ')})` : ''}: deploy it first, or give the key access to all models`,
    );
  }

  /** The group of a deployed model (null: known here but not yet in any group state); NotFound for an unknown model. */
  function modelGroup(model: string): string | null {
    const found = q.model.get(model);
    if (!found) throw unknownModel(model, q.models.all().map((m) => m.name));
    return found.group_name;
  }

  return {
    list: (): ApiKeyView[] => {
      const live = liveUsage();
      return q.all.all().map((r) => view(r, live));
    },
    get: (id: string) => view(row(id)),
    /** The key's group (null: a key of a data folder that never published it). */
    groupOf: (id: string) => row(id).group_name,

    modelGroup,
    unknownModel,

    /**
     * Checks a key request and makes its secret; nothing is stored here (the group change caches the entry).
     * The scope's model is checked against the cache; the change checks it again against the group state.
     */
    prepare(input: CreateKey, createdBy: string): NewKey & { group: string | undefined } {
      const parsed = CreateKey.parse(input);
      if (parsed.scope.kind !== 'all') modelGroup(parsed.scope.model);
      if (parsed.expiresAt && Date.parse(parsed.expiresAt) <= now().getTime()) {
        throw new BerthError('ValidationError', `The expiry ${parsed.expiresAt} is in the past: pick a later date, or no expiry`);
      }
      const secret = generateSecret();
      const entry: StateKey = {
        id: `key_${randomBytes(6).toString('hex')}`,
        name: parsed.name,
        sha256: sha256Hex(secret),
        scope: parsed.scope,
        expiresAt: parsed.expiresAt ? new Date(parsed.expiresAt).toISOString() : null,
        createdBy,
        createdAt: now().toISOString(),
        revokedAt: null,
        revokedBy: null,
      };
      return { entry, secret, group: parsed.group };
    },

    /** Refuses revoking a key twice, naming who did it first. */
    checkRevocable(id: string): ApiKeyView {
      const key = view(row(id));
      if (key.revokedAt) throw new BerthError('Conflict', `${id} ("${key.name}") was already revoked at ${key.revokedAt} by ${key.revokedBy}`);
      return key;
    },

    /** Stores absolute request counts per key (the logs service calls this after pulling the gateways' logs). */
    setUsage(counts: KeyUsage[]): number {
      let updated = 0;
      db.transaction(() => {
        for (const c of counts) updated += q.usage.run(c.requests, c.lastUsedAt, c.keyId).changes;
      })();
      return updated;
    },

    models(): ModelAccessView[] {
      return q.models.all().map((m) => ({
        name: m.name,
        public: m.public === 1,
        versions: q.versions.all(m.id).map((v) => String(v.number)),
      }));
    },

    /** The model's public flag as this Berth last saw it; NotFound for an unknown model. */
    publicFlag(model: string): boolean {
      const found = q.model.get(model);
      if (!found) throw new BerthError('NotFound', `No model named "${model}" has been deployed`);
      return found.public === 1;
    },
  };
}
export type KeyStore = ReturnType<typeof createKeyStore>;
