import { safeStorage } from 'electron';
import type { SecretCipher } from './services/access/secrets';

/** Secrets encrypted by the OS keychain through Electron; null where the OS offers none (then the key file is used). */
export function createSafeStorageCipher(): SecretCipher | null {
  if (!safeStorage.isEncryptionAvailable()) return null;
  return {
    kind: 'safeStorage',
    encrypt: (plain) => safeStorage.encryptString(plain),
    decrypt: (data) => safeStorage.decryptString(data),
  };
}
