/** Numbered schema migrations; never edit a released one, append a new one. */
export interface Migration {
  version: number;
  sql: string;
}

export const migrations: Migration[] = [
  {
    version: 1,
    sql: `
      CREATE TABLE settings (
        key   TEXT PRIMARY KEY,
        value TEXT NOT NULL
      );
      CREATE TABLE projects (
        id        INTEGER PRIMARY KEY,
        path      TEXT NOT NULL UNIQUE,
        name      TEXT NOT NULL,
        kind      TEXT NOT NULL CHECK (kind IN ('folder', 'notebook')),
        opened_at TEXT NOT NULL
      );
    `,
  },
  {
    version: 2,
    sql: `
      -- Ciphertext only: encrypted with Electron safeStorage, or a 0600 key file in web/CLI mode.
      CREATE TABLE secrets (
        id         INTEGER PRIMARY KEY,
        purpose    TEXT NOT NULL,
        ciphertext BLOB NOT NULL,
        created_at TEXT NOT NULL
      );
      CREATE TABLE servers (
        id                   INTEGER PRIMARY KEY,
        name                 TEXT NOT NULL UNIQUE,
        host                 TEXT NOT NULL,
        port                 INTEGER NOT NULL CHECK (port BETWEEN 1 AND 65535),
        username             TEXT NOT NULL,
        auth                 TEXT NOT NULL CHECK (auth IN ('key', 'agent')),
        key_secret_id        INTEGER REFERENCES secrets(id),
        key_origin           TEXT,
        host_key_type        TEXT NOT NULL,
        host_key_fingerprint TEXT NOT NULL,
        created_at           TEXT NOT NULL,
        UNIQUE (host, port, username)
      );
      CREATE TABLE server_groups (
        id         INTEGER PRIMARY KEY,
        name       TEXT NOT NULL UNIQUE,
        replicas   INTEGER NOT NULL CHECK (replicas BETWEEN 1 AND 32),
        created_at TEXT NOT NULL
      );
      CREATE TABLE server_group_members (
        group_id  INTEGER NOT NULL REFERENCES server_groups(id) ON DELETE CASCADE,
        server_id INTEGER NOT NULL REFERENCES servers(id) ON DELETE RESTRICT,
        PRIMARY KEY (group_id, server_id)
      );
    `,
  },
  {
    version: 3,
    sql: `
      -- A model is what clients call (/<model>/...); each deploy of a new image makes a numbered version.
      CREATE TABLE models (
        id           INTEGER PRIMARY KEY,
        name         TEXT NOT NULL UNIQUE,
        project_path TEXT,
        public       INTEGER NOT NULL DEFAULT 0 CHECK (public IN (0, 1)),
        keep_versions INTEGER NOT NULL DEFAULT 5 CHECK (keep_versions BETWEEN 1 AND 50),
        created_at   TEXT NOT NULL
      );
      CREATE TABLE versions (
        id            INTEGER PRIMARY KEY,
        model_id      INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        number        INTEGER NOT NULL,
        image_ref     TEXT NOT NULL,
        image_id      TEXT NOT NULL,
        notebook_hash TEXT,
        dockerfile    TEXT,
        requirements  TEXT,
        created_by    TEXT NOT NULL,
        created_at    TEXT NOT NULL,
        -- pending: being deployed; live: serving; stopped: kept, containers stopped; retired: containers removed
        state         TEXT NOT NULL CHECK (state IN ('pending', 'live', 'stopped', 'retired', 'failed')),
        UNIQUE (model_id, number)
      );
      -- Where a version runs: its replicas on one server of the group.
      CREATE TABLE placements (
        version_id INTEGER NOT NULL REFERENCES versions(id) ON DELETE CASCADE,
        server_id  INTEGER NOT NULL REFERENCES servers(id),
        group_id   INTEGER NOT NULL REFERENCES server_groups(id),
        replicas   TEXT NOT NULL, -- JSON [{ "name": ..., "port": ... }]
        PRIMARY KEY (version_id, server_id)
      );
      CREATE TABLE aliases (
        model_id   INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        alias      TEXT NOT NULL,
        version_id INTEGER NOT NULL REFERENCES versions(id),
        PRIMARY KEY (model_id, alias)
      );
      -- Every deploy, rollback, alias move, start and stop; 'running' rows left by a crash are recovered at start.
      CREATE TABLE operations (
        id          INTEGER PRIMARY KEY,
        kind        TEXT NOT NULL CHECK (kind IN ('deploy', 'rollback', 'alias', 'start', 'stop', 'recover')),
        model_id    INTEGER NOT NULL REFERENCES models(id) ON DELETE CASCADE,
        version_id  INTEGER REFERENCES versions(id),
        group_id    INTEGER REFERENCES server_groups(id),
        actor       TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('running', 'succeeded', 'failed', 'undone')),
        journal     TEXT NOT NULL DEFAULT '{}',
        error       TEXT,
        started_at  TEXT NOT NULL,
        finished_at TEXT
      );
    `,
  },
  {
    version: 4,
    sql: `
      -- Per project (the path as opened) and editable file: the last generated text, and the user's edit with the
      -- generated text it was based on, so a regeneration never overwrites an edit silently.
      CREATE TABLE build_edits (
        project_path TEXT NOT NULL,
        file         TEXT NOT NULL CHECK (file IN ('dockerfile', 'requirements')),
        generated    TEXT NOT NULL,
        edited       TEXT,
        based_on     TEXT,
        updated_at   TEXT NOT NULL,
        PRIMARY KEY (project_path, file),
        CHECK ((edited IS NULL) = (based_on IS NULL))
      );
      -- Every local image build, with exactly what it was built from and how its smoke test went.
      CREATE TABLE builds (
        id            INTEGER PRIMARY KEY,
        project_path  TEXT NOT NULL,
        project       TEXT NOT NULL,
        image_tag     TEXT,
        image_id      TEXT,
        notebook_hash TEXT NOT NULL,
        context_hash  TEXT,
        dockerfile    TEXT NOT NULL,
        requirements  TEXT NOT NULL,
        status        TEXT NOT NULL CHECK (status IN ('succeeded', 'failed', 'cancelled')),
        smoke         TEXT, -- JSON SmokeResult
        size_bytes    INTEGER,
        duration_ms   REAL,
        error         TEXT, -- JSON { kind, message }
        created_at    TEXT NOT NULL
      );
      CREATE INDEX builds_by_project ON builds (project_path, created_at);
    `,
  },
  {
    version: 5,
    sql: `
      -- API keys checked by the gateways: only the sha256 of a secret is stored, never the secret.
      CREATE TABLE api_keys (
        id           TEXT PRIMARY KEY,
        name         TEXT NOT NULL,
        sha256       TEXT NOT NULL UNIQUE CHECK (length(sha256) = 64),
        scope        TEXT NOT NULL, -- JSON KeyScope
        expires_at   TEXT,
        created_by   TEXT NOT NULL,
        created_at   TEXT NOT NULL,
        revoked_at   TEXT,
        revoked_by   TEXT,
        requests     INTEGER NOT NULL DEFAULT 0,
        last_used_at TEXT
      );
      -- Team members; each one's key is installed on every server behind berth-shell with their role.
      CREATE TABLE members (
        id          TEXT PRIMARY KEY,
        name        TEXT NOT NULL UNIQUE,
        role        TEXT NOT NULL CHECK (role IN ('viewer', 'deployer', 'admin')),
        public_key  TEXT NOT NULL UNIQUE,
        key_type    TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL
      );
      -- The hash-chained audit log: entry is canonical JSON, hash = sha256(canonical {entry, prev, seq}).
      CREATE TABLE audit_log (
        seq   INTEGER PRIMARY KEY AUTOINCREMENT,
        entry TEXT NOT NULL,
        prev  TEXT NOT NULL,
        hash  TEXT NOT NULL
      );
      CREATE TRIGGER audit_log_append_only_update BEFORE UPDATE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
      CREATE TRIGGER audit_log_append_only_delete BEFORE DELETE ON audit_log
        BEGIN SELECT RAISE(ABORT, 'the audit log is append-only'); END;
      -- Where each entry was appended (servers keep their own chained copy); no foreign key to servers, whose
      -- rows may be removed while their history stays.
      CREATE TABLE audit_deliveries (
        seq         INTEGER NOT NULL REFERENCES audit_log(seq),
        server_id   INTEGER NOT NULL,
        server_name TEXT NOT NULL,
        state       TEXT NOT NULL CHECK (state IN ('pending', 'delivered', 'failed')),
        remote_seq  INTEGER,
        remote_hash TEXT,
        error       TEXT,
        updated_at  TEXT NOT NULL,
        PRIMARY KEY (seq, server_id)
      );
      CREATE INDEX audit_deliveries_by_server ON audit_deliveries (server_id, state, seq);
    `,
  },
  {
    version: 6,
    sql: `
      -- One row per request, joined from the gateway's log line (seq) and the replica's log line (Docker timestamp)
      -- by X-Request-Id. No foreign key to servers: records outlive a removed server.
      CREATE TABLE inference_requests (
        id                 INTEGER PRIMARY KEY,
        server_id          INTEGER NOT NULL,
        server_name        TEXT NOT NULL,
        request_id         TEXT NOT NULL,
        ts_ms              INTEGER NOT NULL, -- request start (gateway) or log time (replica only), epoch ms
        model              TEXT,
        version            TEXT,
        alias              TEXT,
        caller             TEXT,
        method             TEXT,
        path               TEXT,
        status             INTEGER,
        latency_ms         REAL,
        upstream           TEXT,
        bytes_in           INTEGER,
        bytes_out          INTEGER,
        gateway_error      TEXT,
        gw_epoch           INTEGER,
        gw_seq             INTEGER,
        replica_container  TEXT,
        replica_id         TEXT,
        replica_ts         TEXT,
        replica_status     INTEGER,
        replica_latency_ms REAL,
        input              TEXT,
        output             TEXT,
        error              TEXT
      );
      CREATE UNIQUE INDEX inference_gateway_line ON inference_requests (server_id, gw_epoch, gw_seq) WHERE gw_seq IS NOT NULL;
      CREATE UNIQUE INDEX inference_replica_line ON inference_requests (server_id, replica_id, replica_ts) WHERE replica_ts IS NOT NULL;
      CREATE INDEX inference_by_request ON inference_requests (server_id, request_id);
      CREATE INDEX inference_by_time ON inference_requests (ts_ms);
      CREATE INDEX inference_by_model ON inference_requests (model, version, ts_ms);
      CREATE VIRTUAL TABLE inference_fts USING fts5(input, output, error, content='inference_requests', content_rowid='id');
      -- A row is in the index exactly while it has text (gateway-only rows have none until the replica line joins).
      CREATE TRIGGER inference_fts_insert AFTER INSERT ON inference_requests
        WHEN coalesce(new.input, new.output, new.error) IS NOT NULL BEGIN
        INSERT INTO inference_fts (rowid, input, output, error) VALUES (new.id, new.input, new.output, new.error);
      END;
      CREATE TRIGGER inference_fts_delete AFTER DELETE ON inference_requests
        WHEN coalesce(old.input, old.output, old.error) IS NOT NULL BEGIN
        INSERT INTO inference_fts (inference_fts, rowid, input, output, error) VALUES ('delete', old.id, old.input, old.output, old.error);
      END;
      CREATE TRIGGER inference_fts_update AFTER UPDATE OF input, output, error ON inference_requests
        WHEN old.input IS NOT new.input OR old.output IS NOT new.output OR old.error IS NOT new.error BEGIN
        INSERT INTO inference_fts (inference_fts, rowid, input, output, error)
          SELECT 'delete', old.id, old.input, old.output, old.error WHERE coalesce(old.input, old.output, old.error) IS NOT NULL;
        INSERT INTO inference_fts (rowid, input, output, error)
          SELECT new.id, new.input, new.output, new.error WHERE coalesce(new.input, new.output, new.error) IS NOT NULL;
      END;
      -- Where each pull stopped, per server and source ('gateway' or 'replica:<container id>'), as JSON.
      CREATE TABLE ingest_cursors (
        server_id  INTEGER NOT NULL,
        source     TEXT NOT NULL,
        position   TEXT NOT NULL,
        updated_at TEXT NOT NULL,
        PRIMARY KEY (server_id, source)
      );
      -- Records that rotation removed on a server before Berth pulled them.
      CREATE TABLE ingest_gaps (
        id          INTEGER PRIMARY KEY,
        server_id   INTEGER NOT NULL,
        server_name TEXT NOT NULL,
        source      TEXT NOT NULL,
        after_ref   TEXT NOT NULL,
        before_ref  TEXT NOT NULL,
        missing     INTEGER,
        at_ms       INTEGER NOT NULL,
        detected_at TEXT NOT NULL,
        message     TEXT NOT NULL
      );
      CREATE INDEX ingest_gaps_by_time ON ingest_gaps (at_ms);
      -- At most one open alert per (kind, subject); resolving it keeps the row as history.
      CREATE TABLE alerts (
        id               INTEGER PRIMARY KEY,
        kind             TEXT NOT NULL,
        subject          TEXT NOT NULL,
        severity         TEXT NOT NULL CHECK (severity IN ('critical', 'warning')),
        server_id        INTEGER,
        message          TEXT NOT NULL,
        detail           TEXT NOT NULL DEFAULT 'null',
        opened_at        TEXT NOT NULL,
        last_seen_at     TEXT NOT NULL,
        resolved_at      TEXT,
        resolved_message TEXT
      );
      CREATE UNIQUE INDEX alerts_open ON alerts (kind, subject) WHERE resolved_at IS NULL;
      -- Every alert and automatic action (recovery, webhook delivery, ingest gap), to be joined with the audit trail.
      CREATE TABLE events (
        id       INTEGER PRIMARY KEY,
        at       TEXT NOT NULL,
        kind     TEXT NOT NULL,
        subject  TEXT,
        message  TEXT NOT NULL,
        detail   TEXT NOT NULL DEFAULT 'null',
        actor    TEXT NOT NULL,
        alert_id INTEGER REFERENCES alerts(id)
      );
      CREATE INDEX events_by_time ON events (at);
      CREATE TABLE group_webhooks (
        group_id   INTEGER PRIMARY KEY REFERENCES server_groups(id) ON DELETE CASCADE,
        url        TEXT NOT NULL,
        updated_at TEXT NOT NULL
      );
    `,
  },
  {
    version: 7,
    sql: `
      -- Servers hold the truth (docs/ARCHITECTURE.md): SQLite caches each group's state. A server is known by the
      -- identity it keeps itself; a model, key and member by the group whose state holds it.
      ALTER TABLE servers ADD COLUMN uid TEXT;
      CREATE UNIQUE INDEX servers_by_uid ON servers (uid) WHERE uid IS NOT NULL;
      ALTER TABLE server_groups ADD COLUMN state_revision INTEGER;
      ALTER TABLE server_groups ADD COLUMN state_hash TEXT;
      ALTER TABLE server_groups ADD COLUMN state_by TEXT;
      ALTER TABLE server_groups ADD COLUMN state_at TEXT;
      ALTER TABLE server_groups ADD COLUMN refreshed_at TEXT;
      ALTER TABLE models ADD COLUMN group_name TEXT;
      ALTER TABLE api_keys ADD COLUMN group_name TEXT;
      CREATE TABLE members_new (
        id          TEXT PRIMARY KEY,
        group_name  TEXT,
        name        TEXT NOT NULL,
        role        TEXT NOT NULL CHECK (role IN ('viewer', 'deployer', 'admin')),
        public_key  TEXT NOT NULL,
        key_type    TEXT NOT NULL,
        fingerprint TEXT NOT NULL,
        created_at  TEXT NOT NULL,
        updated_at  TEXT NOT NULL,
        UNIQUE (group_name, name),
        UNIQUE (group_name, public_key)
      );
      INSERT INTO members_new (id, name, role, public_key, key_type, fingerprint, created_at, updated_at)
        SELECT id, name, role, public_key, key_type, fingerprint, created_at, updated_at FROM members;
      DROP TABLE members;
      ALTER TABLE members_new RENAME TO members;
    `,
  },
  {
    version: 8,
    sql: `
      -- A deployer limited to some models (a JSON array; NULL: every model of the group), as the group state says.
      ALTER TABLE members ADD COLUMN models TEXT;
    `,
  },
  {
    version: 9,
    sql: `
      -- A CI runner's key belongs to a person (a member id): offboarding them can remove it too.
      ALTER TABLE members ADD COLUMN owner TEXT;
    `,
  },
  {
    version: 10,
    sql: `
      -- Which cipher encrypted each secret (NULL: written before Berth recorded it), so every process on this data
      -- folder knows whether it can decrypt it, and old ones can be moved to the shared cipher.
      ALTER TABLE secrets ADD COLUMN cipher TEXT;
    `,
  },
  {
    version: 11,
    sql: `
      -- Platforms (linux/amd64, linux/arm64): each server's Docker architecture as its facts last said (a group's
      -- platform is known without reaching its servers), and what each build's image was built for.
      ALTER TABLE servers ADD COLUMN arch TEXT;
      ALTER TABLE builds ADD COLUMN platform TEXT;
    `,
  },
  {
    version: 12,
    sql: `
      -- HTTPS and binding (group settings tls, listen, authority) as the group state last said, JSON; for a group not
      -- yet published, what it was created with (new groups serve HTTPS only). NULL: a group made before HTTPS.
      ALTER TABLE server_groups ADD COLUMN gateway_settings TEXT;
    `,
  },
  {
    version: 13,
    sql: `
      -- The process running each operation (JSON: pid and start time, services/store/process-owner.ts): another
      -- Berth on this data folder (the CLI beside the app) leaves a running operation alone while its owner lives.
      -- NULL: recorded before Berth kept it, treated as an owner gone.
      ALTER TABLE operations ADD COLUMN owner TEXT;
    `,
  },
  {
    version: 14,
    sql: `
      -- Inference search reads this index alone: time order (id breaks ties, as the search sorts) with every filter
      -- column, the model error as a flag, so neither a filter, a deep page nor a count reads the records
      -- themselves (services/logs/search-queries.ts). It leads with ts_ms, so it replaces inference_by_time.
      CREATE INDEX inference_scan ON inference_requests (ts_ms, id, model, version, caller, server_name, status, (error IS NOT NULL));
      DROP INDEX inference_by_time;
    `,
  },
  {
    version: 15,
    sql: `
      -- The server whose engine built the image (a remote build, services/build/remote-build.ts): the image is on
      -- that server, not in the local engine. NULL: built locally.
      ALTER TABLE builds ADD COLUMN built_on INTEGER;
    `,
  },
  {
    version: 16,
    sql: `
      -- "This computer" as a server: its commands run in this computer's shell, not over SSH (transport/local.ts).
      ALTER TABLE servers ADD COLUMN transport TEXT NOT NULL DEFAULT 'ssh' CHECK (transport IN ('ssh', 'local'));
    `,
  },
  {
    version: 17,
    sql: `
      -- The deploy's message (group state: versions[].message), shown in the timeline.
      ALTER TABLE versions ADD COLUMN message TEXT;
    `,
  },
];
