import { safeStorage } from 'electron';
import { basicTextCipher } from './services/access/basic-text';
import type { SecretCipher } from './services/access/secrets';

/**
 * The OS keychain through Electron, which encrypted secrets before the app and the CLI shared the data folder's key
 * file: kept only to read those once, so they can move to the shared key. On Linux, Chromium's `basic_text` store
 * (no keyring: a hard-coded key) is read by Berth itself, so such a secret stays readable when a keyring appears.
 */
export function legacySafeStorageCipher(): SecretCipher[] {
  const fallback = process.platform === 'linux' ? [basicTextCipher()] : [];
  if (process.platform === 'linux' && safeStorage.getSelectedStorageBackend() === 'basic_text') {
    console.warn('safeStorage uses its basic_text backend (no keyring): secrets it wrote were protected by a hard-coded key. Berth moves each to its data folder key (a 0600 file) on first read.');
    return fallback;
  }
  if (!safeStorage.isEncryptionAvailable()) return fallback;
  return [{ kind: 'safeStorage', encrypt: (plain) => safeStorage.encryptString(plain), decrypt: (data) => safeStorage.decryptString(data) }, ...fallback];
}
