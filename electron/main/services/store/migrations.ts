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
];
