import { createCipheriv, createDecipheriv, randomBytes } from 'node:crypto';
import { chmodSync, existsSync, mkdirSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { dirname } from 'node:path';
import { BerthError } from '../../../../shared/errors';
import type { Db } from '../store/database';

/** Encrypts secrets at rest. Electron supplies one backed by safeStorage; web/CLI mode uses a 0600 key file. */
export interface SecretCipher {
  readonly kind: 'safeStorage' | 'file-key';
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

/** The secrets table: callers get an id to store, never the plaintext at rest. */
export function createSecretStore(db: Db, cipher: SecretCipher, now: () => Date = () => new Date()) {
  const insert = db.prepare<[string, Buffer, string], { id: number }>(
    'INSERT INTO secrets (purpose, ciphertext, created_at) VALUES (?, ?, ?) RETURNING id',
  );
  const select = db.prepare<[number], { ciphertext: Buffer }>('SELECT ciphertext FROM secrets WHERE id = ?');
  const remove = db.prepare('DELETE FROM secrets WHERE id = ?');

  return {
    put: (purpose: string, plain: string): number => insert.get(purpose, cipher.encrypt(plain), now().toISOString())!.id,
    get(id: number): string {
      const row = select.get(id);
      if (!row) throw new BerthError('NotFound', `Secret ${id} is missing from the store`);
      return cipher.decrypt(row.ciphertext);
    },
    delete: (id: number): void => void remove.run(id),
  };
}
export type SecretStore = ReturnType<typeof createSecretStore>;
