/**
 * Chromium's `basic_text` secret store (Electron's safeStorage on Linux without a keyring): "v10" + AES-128-CBC
 * under a key derived from the hard-coded password "peanuts", so it protects nothing. Berth reads such secrets
 * itself, whatever backend a later start selects (a keyring appearing would otherwise make them unreadable), and
 * moves them to the data folder's key on first read like every legacy secret.
 */
import { createCipheriv, createDecipheriv, pbkdf2Sync } from 'node:crypto';
import { BerthError } from '../../../../shared/errors';
import type { SecretCipher } from './secrets';

const PREFIX = Buffer.from('v10');
// Chromium's os_crypt_linux: PBKDF2-SHA1("peanuts", "saltysalt", 1 iteration, 16 bytes), IV of 16 spaces.
const KEY = pbkdf2Sync('peanuts', 'saltysalt', 1, 16, 'sha1');
const IV = Buffer.alloc(16, 0x20);

export function basicTextCipher(): SecretCipher {
  return {
    kind: 'safeStorage-basic_text',
    encrypt(plain) {
      const cipher = createCipheriv('aes-128-cbc', KEY, IV);
      return Buffer.concat([PREFIX, cipher.update(plain, 'utf8'), cipher.final()]);
    },
    decrypt(data) {
      if (!data.subarray(0, PREFIX.length).equals(PREFIX)) throw new BerthError('Internal', 'Not a basic_text secret (no v10 prefix)');
      const decipher = createDecipheriv('aes-128-cbc', KEY, IV);
      return Buffer.concat([decipher.update(data.subarray(PREFIX.length)), decipher.final()]).toString('utf8');
    },
  };
}
