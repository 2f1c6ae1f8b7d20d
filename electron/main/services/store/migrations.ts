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
];
