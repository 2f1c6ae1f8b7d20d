import { createHash, randomBytes } from 'node:crypto';
import {
  CreateKey,
  type ApiKeyView,
  type KeyScope,
  type KeyUsage,
  type ModelAccessView,
  type RouteKey,
} from '../../../../shared/access';
import { BerthError } from '../../../../shared/errors';
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

/** The gateway's view of a scope: `models: null` is every model; `versions` limits versions per model. */
export function scopeToRoute(scope: KeyScope): Pick<RouteKey, 'models' | 'versions'> {
  switch (scope.kind) {
    case 'all':
      return { models: null, versions: null };
    case 'model':
      return { models: [scope.model], versions: null };
    case 'versions':
      return { models: [scope.model], versions: { [scope.model]: [...scope.versions] } };
  }
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

/** API keys in SQLite: only the sha256 of a secret is ever stored; the secret is returned once, at creation. */
export function createKeyStore(deps: KeyStoreDeps) {
  const { db } = deps;
  const now = deps.now ?? (() => new Date());
  const q = {
    all: db.prepare<[], KeyRow>('SELECT * FROM api_keys ORDER BY created_at DESC, id'),
    get: db.prepare<[string], KeyRow>('SELECT * FROM api_keys WHERE id = ?'),
    insert: db.prepare(
      `INSERT INTO api_keys (id, name, sha256, scope, expires_at, created_by, created_at)
       VALUES (@id, @name, @sha256, @scope, @expiresAt, @createdBy, @createdAt)`,
    ),
    revoke: db.prepare('UPDATE api_keys SET revoked_at = ?, revoked_by = ? WHERE id = ? AND revoked_at IS NULL'),
    usage: db.prepare('UPDATE api_keys SET requests = ?, last_used_at = ? WHERE id = ?'),
    models: db.prepare<[], { name: string; public: number }>('SELECT name, public FROM models ORDER BY name'),
    model: db.prepare<[string], { id: number; public: number }>('SELECT id, public FROM models WHERE name = ?'),
    versions: db.prepare<[number], { number: number }>("SELECT number FROM versions WHERE model_id = ? AND state != 'retired' ORDER BY number"),
    setPublic: db.prepare('UPDATE models SET public = ? WHERE name = ?'),
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

  function get(id: string): KeyRow {
    const row = q.get.get(id);
    if (!row) throw new BerthError('NotFound', `There is no API key ${id}`);
    return row;
  }

  function checkScopeModel(scope: KeyScope): void {
    if (scope.kind === 'all') return;
    const model = q.model.get(scope.model);
    if (!model) {
      const known = q.models.all().map((m) => m.name);
      throw new BerthError(
        'NotFound',
        `No model named "${scope.model}" has been deployed${known.length ? ` (models: ${known.join(', ')})` : ''}: deploy it first, or give the key access to all models`,
      );
    }
  }

  function liveUsage(): Map<string, KeyUsage> | undefined {
    if (!deps.usage) return undefined;
    try {
      return new Map(deps.usage().map((u) => [u.keyId, u]));
    } catch {
      return undefined; // counts are informative; a failing source falls back to the stored ones
    }
  }

  return {
    list: (): ApiKeyView[] => {
      const live = liveUsage();
      return q.all.all().map((row) => view(row, live));
    },
    get: (id: string) => view(get(id)),

    create(input: CreateKey, createdBy: string): { key: ApiKeyView; secret: string } {
      const parsed = CreateKey.parse(input);
      checkScopeModel(parsed.scope);
      if (parsed.expiresAt && Date.parse(parsed.expiresAt) <= now().getTime()) {
        throw new BerthError('ValidationError', `The expiry ${parsed.expiresAt} is in the past: pick a later date, or no expiry`);
      }
      const secret = generateSecret();
      const id = `key_${randomBytes(6).toString('hex')}`;
      q.insert.run({
        id,
        name: parsed.name,
        sha256: sha256Hex(secret),
        scope: JSON.stringify(parsed.scope),
        expiresAt: parsed.expiresAt ? new Date(parsed.expiresAt).toISOString() : null,
        createdBy,
        createdAt: now().toISOString(),
      });
      return { key: view(get(id)), secret };
    },

    revoke(id: string, revokedBy: string): ApiKeyView {
      const row = get(id);
      if (row.revoked_at) throw new BerthError('Conflict', `${id} ("${row.name}") was already revoked at ${row.revoked_at} by ${row.revoked_by}`);
      q.revoke.run(now().toISOString(), revokedBy, id);
      return view(get(id));
    },

    /** The keys routes.json must carry: not revoked and not expired. */
    keysForRoutes(): RouteKey[] {
      const at = now().getTime();
      return q.all
        .all()
        .filter((row) => !row.revoked_at && !(row.expires_at && Date.parse(row.expires_at) <= at))
        .map((row) => ({ id: row.id, sha256: row.sha256, ...scopeToRoute(JSON.parse(row.scope)), expiresAt: row.expires_at }))
        .sort((a, b) => a.id.localeCompare(b.id));
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
        versions: q.versions.all(q.model.get(m.name)!.id).map((v) => String(v.number)),
      }));
    },

    /** A model is private (keys required) unless made public here. Returns the previous setting. */
    setPublic(model: string, isPublic: boolean): boolean {
      const row = q.model.get(model);
      if (!row) throw new BerthError('NotFound', `No model named "${model}" has been deployed`);
      q.setPublic.run(isPublic ? 1 : 0, model);
      return row.public === 1;
    },
  };
}
export type KeyStore = ReturnType<typeof createKeyStore>;
