import { execFileSync } from 'node:child_process';
import { pbkdf2Sync } from 'node:crypto';
import { mkdtempSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { basicTextCipher } from '../../../electron/main/services/access/basic-text';
import { createFileKeyCipher, createSecretStore, type SecretCipher } from '../../../electron/main/services/access/secrets';
import { openDatabase } from '../../../electron/main/services/store/database';

/** Stands in for Electron's safeStorage (which needs the OS keychain): reversible, and recognisably not the key file's. */
const keychain: SecretCipher = {
  kind: 'safeStorage',
  encrypt: (plain) => Buffer.from(`kc:${plain}`),
  decrypt: (data) => {
    const text = data.toString();
    if (!text.startsWith('kc:')) throw new Error('not a keychain secret');
    return text.slice(3);
  },
};

function folder() {
  const home = mkdtempSync(join(tmpdir(), 'berth-secrets-'));
  return { db: openDatabase(join(home, 'berth.db')), keyFile: createFileKeyCipher(join(home, 'secret.key')) };
}

const cipherOf = (db: ReturnType<typeof openDatabase>, id: number) => db.prepare('SELECT cipher FROM secrets WHERE id = ?').pluck().get(id);

describe('one cipher for the app and the CLI, recorded per secret', () => {
  it('the app and the CLI read each other’s secrets through the shared key file', () => {
    const { db, keyFile } = folder();
    const app = createSecretStore(db, keyFile, undefined, [keychain]);
    const id = app.put('ssh-key:tb1', 'PRIVATE');
    expect(cipherOf(db, id)).toBe('file-key');
    expect(createSecretStore(db, keyFile).get(id)).toBe('PRIVATE');
  });

  it('a secret the keychain encrypted before moves to the key file when the app reads it, and the CLI can then read it', () => {
    const { db, keyFile } = folder();
    const legacyId = db.prepare("INSERT INTO secrets (purpose, ciphertext, created_at) VALUES ('ssh-key:tb2', ?, 'then') RETURNING id").pluck().get(keychain.encrypt('OLD')) as number;
    const cli = createSecretStore(db, keyFile);
    expect(() => cli.get(legacyId)).toThrow(/Open the desktop app once/);
    expect(createSecretStore(db, keyFile, undefined, [keychain]).get(legacyId)).toBe('OLD');
    expect(cipherOf(db, legacyId)).toBe('file-key');
    expect(cli.get(legacyId)).toBe('OLD');
  });

  it('a secret recorded as the keychain’s is refused by name where there is no keychain', () => {
    const { db, keyFile } = folder();
    const id = db.prepare("INSERT INTO secrets (purpose, ciphertext, created_at, cipher) VALUES ('api', ?, 'then', 'safeStorage') RETURNING id").pluck().get(keychain.encrypt('K')) as number;
    expect(() => createSecretStore(db, keyFile).get(id)).toThrow(/"api" was encrypted with the desktop app's OS keychain, which this Berth cannot use/);
  });

  it('a secret safeStorage wrote with basic_text (Linux, no keyring) is still read after a keyring appears, and moves to the key file', () => {
    // What Chromium's basic_text writes, made by openssl rather than by Berth's own code: "v10" + AES-128-CBC.
    const key = pbkdf2Sync('peanuts', 'saltysalt', 1, 16, 'sha1').toString('hex');
    const body = execFileSync('openssl', ['enc', '-aes-128-cbc', '-K', key, '-iv', '20'.repeat(16)], { input: 'ROOT-KEY' });
    const { db, keyFile } = folder();
    const id = db.prepare("INSERT INTO secrets (purpose, ciphertext, created_at, cipher) VALUES ('ssh-key:tb3', ?, 'then', 'safeStorage') RETURNING id").pluck().get(Buffer.concat([Buffer.from('v10'), body])) as number;
    // This start's safeStorage has a keyring (here: the stand-in), which cannot read a basic_text secret.
    const app = createSecretStore(db, keyFile, undefined, [keychain, basicTextCipher()]);
    expect(app.get(id)).toBe('ROOT-KEY');
    expect(cipherOf(db, id)).toBe('file-key');
    expect(createSecretStore(db, keyFile).get(id)).toBe('ROOT-KEY');
  });
});
