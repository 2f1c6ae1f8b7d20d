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
        -- live: replicas running; stopped: kept, containers stopped; retired: containers and image removed
        state         TEXT NOT NULL CHECK (state IN ('live', 'stopped', 'retired', 'failed')),
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
];
