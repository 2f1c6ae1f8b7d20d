import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { BerthError } from '../../../../shared/errors';
import type { Db } from '../store/database';

/** Encrypts secrets at rest: the 0600 key file in the data folder, which the app, web mode and the CLI share. */
export interface SecretCipher {
  readonly kind: 'safeStorage' | 'safeStorage-basic_text' | 'file-key';
  encrypt(plain: string): Buffer;
  decrypt(cipher: Buffer): string;
}

const KEY_BYTES = 32;
const IV_BYTES = 12;
const TAG_BYTES = 16;

/** AES-256-GCM with a random key kept in a file only the user can read. */
export function createFileKeyCipher(keyFile: string): SecretCipher {
  if (!existsSync(keyFile)) {
    mkdirSync(dirname(keyFile), { recursive: true, mode: 0o700 });
    writeFileSync(keyFile, randomBytes(KEY_BYTES), { mode: 0o600, flag: 'wx' });
  }
  if ((statSync(keyFile).mode & 0o077) !== 0) chmodSync(keyFile, 0o600);
  const key = readFileSync(keyFile);
  if (key.length !== KEY_BYTES) throw new BerthError('Internal', `The secret key file ${keyFile} is damaged (wrong length)`);

  return {
    kind: 'file-key',
    encrypt(plain) {
      const iv = randomBytes(IV_BYTES);
      const cipher = createCipheriv('aes-256-gcm', key, iv);
      const body = Buffer.concat([cipher.update(plain, 'utf8'), cipher.final()]);
      return Buffer.concat([iv, cipher.getAuthTag(), body]);
    },
    decrypt(data) {
      const decipher = createDecipheriv('aes-256-gcm', key, data.subarray(0, IV_BYTES));
      decipher.setAuthTag(data.subarray(IV_BYTES, IV_BYTES + TAG_BYTES));
      try {
        return Buffer.concat([decipher.update(data.subarray(IV_BYTES + TAG_BYTES)), decipher.final()]).toString('utf8');
      } catch {
        throw new BerthError('Internal', `A stored secret cannot be decrypted with ${keyFile}: was the key file replaced?`);
      }
    },
  };
}

/**
 * The secrets table: callers get an id to store, never the plaintext at rest. Each secret records the cipher that
 * encrypted it. New secrets use `cipher`; one written by an older cipher (`legacy`, e.g. the desktop app's OS keychain
 * before the app and the CLI shared one key) is decrypted with it and re-encrypted with `cipher` on first read.
 */
export function createSecretStore(db: Db, cipher: SecretCipher, now: () => Date = () => new Date(), legacy: SecretCipher[] = []) {
  const insert = db.prepare<[string, Buffer, string, string], { id: number }>(
    'INSERT INTO secrets (purpose, ciphertext, created_at, cipher) VALUES (?, ?, ?, ?) RETURNING id',
  );
  const select = db.prepare<[number], { purpose: string; ciphertext: Buffer; cipher: string | null }>('SELECT purpose, ciphertext, cipher FROM secrets WHERE id = ?');
  const reencrypt = db.prepare<[Buffer, string, number]>('UPDATE secrets SET ciphertext = ?, cipher = ? WHERE id = ?');
  const remove = db.prepare('DELETE FROM secrets WHERE id = ?');
  const byPurpose = db.prepare<[string], { id: number }>('SELECT id FROM secrets WHERE purpose = ? ORDER BY id DESC LIMIT 1');
  const known = [cipher, ...legacy];

  /** The ciphers that may have written a row: the recorded one, or for an unrecorded row every one this process has. */
  function candidates(row: { purpose: string; cipher: string | null }): SecretCipher[] {
    if (row.cipher === null) return known;
    // "safeStorage" names no backend: the keyring of that start, or basic_text where there was none.
    const recorded = known.filter((c) => c.kind === row.cipher || (row.cipher === 'safeStorage' && c.kind.startsWith('safeStorage')));
    if (recorded.length) return recorded;
    throw new BerthError(
      'Unauthorized',
      `The secret "${row.purpose}" was encrypted with ${row.cipher === 'safeStorage' ? "the desktop app's OS keychain" : row.cipher}, which this Berth cannot use. ` +
        'Open the desktop app once (it moves its secrets to the key the CLI shares), or give this secret again here.',
    );
  }

  return {
    put: (purpose: string, plain: string): number => insert.get(purpose, cipher.encrypt(plain), now().toISOString(), cipher.kind)!.id,
    get(id: number): string {
      const row = select.get(id);
      if (!row) throw new BerthError('NotFound', `Secret ${id} is missing from the store`);
      let lastError: unknown;
      for (const candidate of candidates(row)) {
        try {
          const plain = candidate.decrypt(row.ciphertext);
          if (candidate !== cipher || row.cipher === null) reencrypt.run(cipher.encrypt(plain), cipher.kind, id);
          return plain;
        } catch (err) {
          lastError = err;
        }
      }
      if (row.cipher !== null) throw lastError;
      throw new BerthError('Unauthorized', `The secret "${row.purpose}" cannot be decrypted here; it was probably written by the desktop app's OS keychain. Open the desktop app once (it moves its secrets to the key the CLI shares), or give this secret again here.`);
    },
    delete: (id: number): void => void remove.run(id),
    /** The newest secret stored for `purpose`, for secrets known by what they are rather than by a row that holds their id. */
    idOf: (purpose: string): number | null => byPurpose.get(purpose)?.id ?? null,
  };
}
export type SecretStore = ReturnType<typeof createSecretStore>;
