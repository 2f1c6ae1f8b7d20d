import { safeStorage } from 'electron';
import type { SecretCipher } from './services/access/secrets';

/**
 * The OS keychain through Electron, which encrypted secrets before the app and the CLI shared the data folder's key
 * file: kept only to read those once, so they can move to the shared key. None where the OS offers no encryption.
 */
export function legacySafeStorageCipher(): SecretCipher[] {
  if (!safeStorage.isEncryptionAvailable()) return [];
  return [{ kind: 'safeStorage', encrypt: (plain) => safeStorage.encryptString(plain), decrypt: (data) => safeStorage.decryptString(data) }];
}
