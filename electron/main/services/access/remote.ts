/**
 * What access control runs on a server over Berth's own (admin) SSH connection: installing berth-shell, rewriting
 * Berth's block of authorized_keys, appending to and reading the audit file, listing and breaking deploy locks.
 */
import { createHash } from 'node:crypto';
import { utils as sshUtils } from 'ssh2';
import auditAppendSource from '../../../../resources/server/berth-audit-append?raw';
import { BerthError } from '../../../../shared/errors';
import { command, script, type RemoteCommand } from '../remote/command';
import type { ServerLayout } from '../remote/layout';
import type { ShellBinary } from '../gateway/local';
import type { SshConnection } from '../transport/ssh';
import { keyBlobOf, memberLine, mergeAuthorizedKeys, type MemberKey } from './authorized-keys';

const TIMEOUT_MS = 20_000;

const isRoot = (ssh: SshConnection) => ssh.target.username === 'root';

/** Runs a command as root: directly when Berth logs in as root, else through passwordless sudo. */
const elevated = (ssh: SshConnection, program: RemoteCommand) => (isRoot(ssh) ? program : program.under('sudo', '-n'));

/** Runs a constant script as root, its values as positional parameters. */
const asRoot = (ssh: SshConnection, text: string, ...args: Array<string | number>) => elevated(ssh, script(text, ...args));

/**
 * Makes the lib folder $1 and the state folder $2 with the subfolders the access machinery writes, writes
 * berth-audit-append ($3, base64) and prints the sha256 of the installed berth-shell ("none" without one).
 * Each file goes in by a rename, so a login never runs half a program.
 */
const PREPARE_LIB = `set -e
umask 022
mkdir -p "$1" "$2/lock" "$2/gateway" "$2/tmp"
mkdir -p -m 750 "$2/audit"
printf %s "$3" | base64 -d > "$1/.berth-audit-append.new" && chmod 755 "$1/.berth-audit-append.new" && mv -f "$1/.berth-audit-append.new" "$1/berth-audit-append"
if [ -f "$1/berth-shell" ]; then sha256sum "$1/berth-shell" | cut -c1-64; else echo none; fi`;

/** berth-shell (the gateway binary) from stdin into the lib folder $1; refused unless its sha256 is $2. */
const INSTALL_SHELL = `set -e
umask 022
cat > "$1/.berth-shell.new"
[ "$(sha256sum "$1/.berth-shell.new" | cut -c1-64)" = "$2" ] || { rm -f "$1/.berth-shell.new"; echo "berth-shell arrived damaged; try again" >&2; exit 1; }
chmod 755 "$1/.berth-shell.new" && mv -f "$1/.berth-shell.new" "$1/berth-shell"`;

/** Sets f to the authorized_keys path $1, taken from the login account's home unless absolute. */
const KEYS_FILE = 'case "$1" in /*) f=$1 ;; *) f=$HOME/$1 ;; esac';

const READ_KEYS = `${KEYS_FILE}
cat "$f" 2>/dev/null || true`;

/** Replaces authorized_keys with stdin unless its sha256 is no longer $2 (someone changed it since it was read). */
const SWAP_KEYS = `${KEYS_FILE}
umask 077
mkdir -p "$(dirname "$f")"
tmp="$f.berth-new"
cat > "$tmp" || exit 1
cur=$(cat "$f" 2>/dev/null | sha256sum | cut -c1-64)
if [ "$cur" != "$2" ]; then rm -f "$tmp"; echo "authorized_keys changed while Berth was updating it; push again" >&2; exit 75; fi
chmod 600 "$tmp" && mv -f "$tmp" "$f"`;

const READ_AUDIT = 'cat "$1" 2>/dev/null || true';

export function renderAuditAppend(layout: ServerLayout): string {
  return auditAppendSource.replaceAll('@BERTH_DIR@', layout.berthDir).replaceAll('@LIB_DIR@', layout.libDir);
}

/**
 * Installs (or refreshes) berth-shell, the forced command of every member key (the gateway binary in its shell
 * mode, resources/gateway/shell.go), and berth-audit-append, root-owned and not writable by anyone else. The
 * binary is sent only when the server's copy differs.
 */
export async function installScripts(ssh: SshConnection, layout: ServerLayout, shell: ShellBinary): Promise<void> {
  const base64 = (text: string) => Buffer.from(text).toString('base64');
  const installed = await ssh.run(asRoot(ssh, PREPARE_LIB, layout.libDir, layout.berthDir, base64(renderAuditAppend(layout))), { timeoutMs: TIMEOUT_MS });
  if (installed.trim() === shell.sha256) return;
  await ssh.run(asRoot(ssh, INSTALL_SHELL, layout.libDir, shell.sha256), { stdin: shell.bytes, timeoutMs: 120_000 });
}

/** The key blob (base64) Berth itself logs in with, when it uses a key file. */
export function ownKeyBlob(ssh: SshConnection): string | null {
  const { privateKey, passphrase } = ssh.target;
  if (!privateKey) return null;
  const parsed = sshUtils.parseKey(privateKey, passphrase);
  const key = Array.isArray(parsed) ? parsed[0] : parsed;
  return key instanceof Error ? null : key.getPublicSSH().toString('base64');
}

const sha256 = (data: Buffer | string) => createHash('sha256').update(data).digest('hex');

/**
 * Rewrites Berth's block of the login account's authorized_keys with the team's lines. Every line outside the
 * block stays as it was; the write is refused if the file changed since it was read. Returns the member ids
 * that lost access here.
 */
export async function pushAuthorizedKeys(ssh: SshConnection, layout: ServerLayout, members: MemberKey[]): Promise<{ removed: string[] }> {
  const read = await ssh.exec(script(READ_KEYS, layout.authorizedKeys), { timeoutMs: TIMEOUT_MS });
  const current = read.stdout;
  const lines = members.map((m) => memberLine(layout, m, !isRoot(ssh)));
  const merged = mergeAuthorizedKeys(current.toString('utf8'), lines, members.map((m) => m.id));

  // Belt and braces: every key outside the block (Berth's own login key among them) must survive the rewrite.
  const blobsBefore = current.toString('utf8').split('\n').filter((l) => !l.includes('berth-member:')).map(keyBlobOf).filter(Boolean);
  const after = merged.content.split('\n');
  for (const blob of blobsBefore) {
    if (!after.some((l) => !l.includes('berth-member:') && keyBlobOf(l) === blob)) {
      throw new BerthError('Internal', `Refusing to rewrite authorized_keys on ${ssh.target.host}: a key outside Berth's block would be lost`);
    }
  }
  const own = ownKeyBlob(ssh);
  if (own && current.length > 0 && blobsBefore.includes(own) && !after.some((l) => !l.includes('berth-member:') && keyBlobOf(l) === own)) {
    throw new BerthError('Internal', `Refusing to rewrite authorized_keys on ${ssh.target.host}: Berth's own login key would be lost`);
  }
  if (merged.content === current.toString('utf8')) return { removed: merged.removed };

  await ssh.run(script(SWAP_KEYS, layout.authorizedKeys, sha256(current)), { stdin: merged.content, timeoutMs: TIMEOUT_MS });
  return { removed: merged.removed };
}

/** Appends one canonical entry to the server's audit file; the server chains it (resources/server/berth-audit-append). */
export async function appendAudit(ssh: SshConnection, layout: ServerLayout, canonicalEntry: string): Promise<{ seq: number; hash: string }> {
  // The appender is sent inline, so auditing works on a server before berth-shell was ever installed there.
  // A member's berth-shell stamps the actor it resolved from the key over the entry's (`audit-append`).
  const appender = command('bash', '-c', renderAuditAppend(layout), 'berth-audit-append', layout.berthDir).asVerb(['audit-append']);
  const out = await ssh.run(elevated(ssh, appender), { stdin: canonicalEntry, timeoutMs: TIMEOUT_MS });
  const match = /^(\d+) ([0-9a-f]{64})\s*$/.exec(out);
  if (!match) throw new BerthError('RemoteCommandFailed', `The audit appender on ${ssh.target.host} answered "${out.trim().slice(0, 200)}"`);
  return { seq: Number(match[1]), hash: match[2] };
}

export async function readAuditFile(ssh: SshConnection, layout: ServerLayout): Promise<string> {
  return ssh.run(asRoot(ssh, READ_AUDIT, `${layout.berthDir}/audit/audit.jsonl`).asVerb(['audit-read']), { timeoutMs: 60_000 });
}
