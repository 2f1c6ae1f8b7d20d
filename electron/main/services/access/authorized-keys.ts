import { BerthError } from '../../../../shared/errors';
import type { Role } from '../../../../shared/access';
import { fingerprintOf, keyTypeOf } from '../transport/host-key';

/** Key types sshd accepts for users; anything else is refused before it reaches a server. */
const KEY_TYPES = new Set([
  'ssh-ed25519',
  'ssh-rsa',
  'ecdsa-sha2-nistp256',
  'ecdsa-sha2-nistp384',
  'ecdsa-sha2-nistp521',
  'sk-ssh-ed25519@openssh.com',
  'sk-ecdsa-sha2-nistp256@openssh.com',
]);

export interface ParsedPublicKey {
  type: string;
  /** base64 of the key blob, exactly as in the .pub file */
  base64: string;
  fingerprint: string;
}

/**
 * Reads one OpenSSH public key line ("type base64 [comment]"). Options (`command=`, `from=`…) are refused: the
 * only options a member's line ever has are the ones Berth writes.
 */
export function parsePublicKey(text: string): ParsedPublicKey {
  const line = text.trim();
  if (/PRIVATE KEY/.test(line)) {
    throw new BerthError('ValidationError', 'That is a private key: never share it. Paste the public key (the .pub file) instead');
  }
  if (line.includes('\n')) throw new BerthError('ValidationError', 'Paste exactly one public key line (the .pub file has one)');
  const [type, base64] = line.split(/\s+/);
  if (!KEY_TYPES.has(type)) {
    throw new BerthError(
      'ValidationError',
      `"${type.slice(0, 40)}" is not an SSH public key type (expected one of ${[...KEY_TYPES].join(', ')}); paste the line without options`,
    );
  }
  if (!base64 || !/^[A-Za-z0-9+/]+={0,2}$/.test(base64)) throw new BerthError('ValidationError', 'The public key’s base64 part is missing or damaged');
  const blob = Buffer.from(base64, 'base64');
  let inner: string;
  try {
    inner = keyTypeOf(blob);
  } catch {
    throw new BerthError('ValidationError', 'The public key’s base64 part is damaged');
  }
  if (inner !== type || blob.length < 32) throw new BerthError('ValidationError', `The key data does not hold a ${type} key (it says "${inner.slice(0, 40)}")`);
  return { type, base64, fingerprint: fingerprintOf(blob) };
}

/** Where berth-shell is installed, and the Berth folder (group states) it reads each member's rights from. */
export interface ShellDirs {
  libDir: string;
  berthDir: string;
}

export interface MemberKey {
  id: string;
  role: Role;
  publicKey: string; // "type base64"
}

export const BLOCK_BEGIN = '# berth:begin team keys (managed by Berth: edits here are overwritten; lines outside are never touched)';
export const BLOCK_END = '# berth:end team keys';

/**
 * How sshd runs berth-shell for one member: directly when Berth logs in as root, through sudo otherwise. The line
 * names only the member: berth-shell reads their role and scope from the group state on the server.
 */
export function forcedCommand(dirs: ShellDirs, member: MemberKey, viaSudo: boolean): string {
  if (!/^m_[a-z0-9]{4,32}$/.test(member.id)) throw new BerthError('Internal', `Bad member id ${member.id}`);
  if (!/^\/[A-Za-z0-9._/-]*$/.test(dirs.berthDir)) throw new BerthError('ValidationError', `Berth's folder on the servers must be an absolute path of plain characters (got ${dirs.berthDir})`);
  const shell = `${dirs.libDir}/berth-shell --berth-dir=${dirs.berthDir} ${member.id}`;
  // Through sudo the request becomes an argument: sudo drops SSH_ORIGINAL_COMMAND, and "$…" is expanded once, not evaluated.
  return viaSudo ? `sudo -n ${shell} "$SSH_ORIGINAL_COMMAND"` : shell;
}

/**
 * One member's authorized_keys line. `restrict` turns off forwarding, X11, agent, pty and ~/.ssh/rc; only admins
 * get a pty back (for their interactive shell). sshd runs `command=` whatever the client asks for.
 */
export function memberLine(dirs: ShellDirs, member: MemberKey, viaSudo = false): string {
  const command = forcedCommand(dirs, member, viaSudo).replace(/\\/g, '\\\\').replace(/"/g, '\\"');
  const options = member.role === 'admin' ? `restrict,pty,command="${command}"` : `restrict,command="${command}"`;
  return `${options} ${member.publicKey} berth-member:${member.id}`;
}

export interface MergeResult {
  content: string;
  /** Members in the block before this change that are gone now. */
  removed: string[];
  /** Lines outside Berth's block, unchanged. */
  kept: number;
}

/** The key blob of an authorized_keys line, wherever its options end (options may contain quoted spaces). */
export function keyBlobOf(line: string): string | null {
  const match = /(?:^|[\s,"])((?:ssh|ecdsa|sk)-[a-z0-9@.-]+)\s+([A-Za-z0-9+/]+={0,2})(?:\s|$)/.exec(line);
  return match && KEY_TYPES.has(match[1]) ? match[2] : null;
}

/**
 * Replaces Berth's block in an authorized_keys file, keeping every other line byte for byte (Berth's own admin
 * key among them). Refuses a member whose key already appears outside the block: that line would give the
 * member unrestricted access, whatever the block says.
 */
export function mergeAuthorizedKeys(current: string, lines: string[], memberIds: string[]): MergeResult {
  const outside: string[] = [];
  const before = new Set<string>();
  let inBlock = false;
  for (const line of current.split('\n')) {
    if (line === BLOCK_BEGIN) inBlock = true;
    else if (line === BLOCK_END) inBlock = false;
    else if (inBlock) {
      const id = /berth-member:(m_[a-z0-9]+)\s*$/.exec(line)?.[1];
      if (id) before.add(id);
    } else outside.push(line);
  }
  while (outside.length && outside.at(-1) === '') outside.pop();

  const outsideBlobs = new Set(outside.map(keyBlobOf).filter((b): b is string => b !== null));
  lines.forEach((line, index) => {
    const blob = keyBlobOf(line);
    if (blob && outsideBlobs.has(blob)) {
      throw new BerthError(
        'Conflict',
        `The key of member ${memberIds[index]} is already in this account's authorized_keys without Berth's restriction, so it has full access; remove that line on the server first`,
      );
    }
  });

  const block = lines.length ? [BLOCK_BEGIN, ...lines, BLOCK_END] : [];
  const content = [...outside, ...block].join('\n') + '\n';
  return { content, removed: [...before].filter((id) => !memberIds.includes(id)), kept: outside.filter((l) => l.trim() !== '').length };
}
