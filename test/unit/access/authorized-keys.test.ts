import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import {
  BLOCK_BEGIN,
  BLOCK_END,
  keyBlobOf,
  memberLine,
  mergeAuthorizedKeys,
  parsePublicKey,
} from '../../../electron/main/services/access/authorized-keys';

const dir = mkdtempSync(join(tmpdir(), 'berth-ak-'));
function keygen(name: string, type = 'ed25519'): string {
  execFileSync('ssh-keygen', ['-q', '-t', type, '-N', '', '-C', `${name}@laptop`, '-f', join(dir, name)]);
  return readFileSync(join(dir, `${name}.pub`), 'utf8').trim();
}
const alice = keygen('alice');
const bob = keygen('bob', 'ecdsa');
const admin = keygen('berth-admin');
const fingerprint = (name: string) => execFileSync('ssh-keygen', ['-lf', join(dir, `${name}.pub`)]).toString().split(' ')[1];

describe('member public keys', () => {
  it('reads a .pub line and gives the same fingerprint as ssh-keygen', () => {
    const key = parsePublicKey(`  ${alice}\n`);
    expect(key.type).toBe('ssh-ed25519');
    expect(alice).toContain(key.base64);
    expect(key.fingerprint).toBe(fingerprint('alice'));
    expect(parsePublicKey(bob).fingerprint).toBe(fingerprint('bob'));
  });

  it('refuses private keys, options, other types and damaged data with a clear reason', () => {
    expect(() => parsePublicKey(readFileSync(join(dir, 'alice'), 'utf8'))).toThrow(/private key: never share it/);
    expect(() => parsePublicKey(`command="id" ${alice}`)).toThrow(/not an SSH public key type.*without options/);
    expect(() => parsePublicKey(`ssh-ed25519 AAAA!!!`)).toThrow(/base64 part is missing or damaged/);
    const [, blob] = bob.split(' ');
    expect(() => parsePublicKey(`ssh-ed25519 ${blob}`)).toThrow(/does not hold a ssh-ed25519 key \(it says "ecdsa-sha2-nistp256"\)/);
    expect(() => parsePublicKey(`${alice}\n${bob}`)).toThrow(/exactly one public key line/);
  });
});

describe("Berth's block in authorized_keys", () => {
  const members = [
    { id: 'm_aaaa1', role: 'viewer' as const, publicKey: alice.split(' ').slice(0, 2).join(' ') },
    { id: 'm_bbbb2', role: 'admin' as const, publicKey: bob.split(' ').slice(0, 2).join(' ') },
  ];
  const lines = members.map((m) => memberLine({ libDir: '/usr/local/lib/berth', berthDir: '/var/lib/berth' }, m));
  const original = `# managed by hand\n${admin}\nfrom="10.0.0.0/8",no-pty ssh-rsa AAAAB3NzaC1yc2EAAAADAQABAAABAQC7 ops\n`;

  it('writes restricted forced-command lines; only admins get a pty back', () => {
    expect(lines[0]).toBe(`restrict,command="/usr/local/lib/berth/berth-shell --berth-dir=/var/lib/berth m_aaaa1" ${members[0].publicKey} berth-member:m_aaaa1`);
    expect(lines[1]).toMatch(/^restrict,pty,command="\/usr\/local\/lib\/berth\/berth-shell --berth-dir=\/var\/lib\/berth m_bbbb2" ecdsa-sha2-nistp256 /);
    expect(memberLine({ libDir: '/opt/berth', berthDir: '/var/lib/berth' }, members[0], true)).toBe(
      `restrict,command="sudo -n /opt/berth/berth-shell --berth-dir=/var/lib/berth m_aaaa1 \\"$SSH_ORIGINAL_COMMAND\\"" ${members[0].publicKey} berth-member:m_aaaa1`,
    );
    expect(() => memberLine({ libDir: '/x', berthDir: '/var/lib/berth' }, { ...members[0], id: 'm_x"; rm' })).toThrow(/Bad member id/);
  });

  it('keeps every line outside the block byte for byte, and replaces only the block', () => {
    const first = mergeAuthorizedKeys(original, lines, members.map((m) => m.id));
    expect(first.content).toBe(`${original}${BLOCK_BEGIN}\n${lines.join('\n')}\n${BLOCK_END}\n`);
    expect(first.kept).toBe(3);
    expect(first.removed).toEqual([]);
    // idempotent
    expect(mergeAuthorizedKeys(first.content, lines, members.map((m) => m.id)).content).toBe(first.content);
    // offboarding bob: his line goes, the rest stays
    const second = mergeAuthorizedKeys(first.content, [lines[0]], ['m_aaaa1']);
    expect(second.content).toBe(`${original}${BLOCK_BEGIN}\n${lines[0]}\n${BLOCK_END}\n`);
    expect(second.removed).toEqual(['m_bbbb2']);
    // nobody left: the file is what it was
    const empty = mergeAuthorizedKeys(second.content, [], []);
    expect(empty.content).toBe(original);
    expect(empty.removed).toEqual(['m_aaaa1']);
  });

  it('keeps lines an admin added after the block', () => {
    const withBlock = mergeAuthorizedKeys(original, lines, members.map((m) => m.id)).content + 'ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIlater added-later\n';
    const merged = mergeAuthorizedKeys(withBlock, [lines[0]], ['m_aaaa1']).content;
    expect(merged).toContain('added-later');
    expect(merged.indexOf('added-later')).toBeLessThan(merged.indexOf(BLOCK_BEGIN));
  });

  it('refuses a member whose key already has unrestricted access outside the block', () => {
    const same = { id: 'm_cccc3', role: 'viewer' as const, publicKey: admin.split(' ').slice(0, 2).join(' ') };
    expect(() => mergeAuthorizedKeys(original, [memberLine({ libDir: '/l', berthDir: '/var/lib/berth' }, same)], [same.id])).toThrow(/m_cccc3 is already in this account's authorized_keys without Berth's restriction/);
  });

  it('finds the key blob of a line whatever its options', () => {
    expect(keyBlobOf(admin)).toBe(admin.split(' ')[1]);
    expect(keyBlobOf(lines[0])).toBe(alice.split(' ')[1]);
    expect(keyBlobOf('# a comment')).toBeNull();
  });
});
