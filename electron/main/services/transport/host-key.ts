import { createHash } from 'node:crypto';

/** OpenSSH's fingerprint format: `SHA256:` + unpadded base64 of the SHA-256 of the raw public key blob. */
export function fingerprintOf(publicKeyBlob: Buffer): string {
  return `SHA256:${createHash('sha256').update(publicKeyBlob).digest('base64').replace(/=+$/, '')}`;
}

/** The key type named inside an SSH public key blob (e.g. `ssh-ed25519`). */
export function keyTypeOf(publicKeyBlob: Buffer): string {
  const length = publicKeyBlob.readUInt32BE(0);
  return publicKeyBlob.subarray(4, 4 + length).toString('ascii');
}
