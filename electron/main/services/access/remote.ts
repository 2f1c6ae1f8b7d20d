/**
 * What access control runs on a server over Berth's own (admin) SSH connection: installing berth-shell, rewriting
 * Berth's block of authorized_keys, appending to and reading the audit file, listing and breaking deploy locks.
 */
import { createHash } from 'node:crypto';
import { utils as sshUtils } from 'ssh2';
import berthShellSource from '../../../../resources/server/berth-shell?raw';
import auditAppendSource from '../../../../resources/server/berth-audit-append?raw';
import { BerthError } from '../../../../shared/errors';
import { shellQuote, type SshConnection } from '../transport/ssh';
import { keyBlobOf, memberLine, mergeAuthorizedKeys, type MemberKey } from './authorized-keys';
import { authorizedKeysWord, type ServerLayout } from './layout';

const TIMEOUT_MS = 20_000;
const MODEL_RE = /^[a-z0-9][a-z0-9_.-]{0,62}$/;

const isRoot = (ssh: SshConnection) => ssh.target.username === 'root';

/** Runs a script as root: directly when Berth logs in as root, else through passwordless sudo. */
function asRoot(ssh: SshConnection, script: string): string {
  return isRoot(ssh) ? `sh -c ${shellQuote(script)}` : `sudo -n sh -c ${shellQuote(script)}`;
}

export function renderScripts(layout: ServerLayout): { berthShell: string; auditAppend: string } {
  const fill = (text: string) => text.replaceAll('@BERTH_DIR@', layout.berthDir).replaceAll('@LIB_DIR@', layout.libDir);
  return { berthShell: fill(berthShellSource), auditAppend: fill(auditAppendSource) };
}

/** Installs (or refreshes) berth-shell and berth-audit-append, root-owned and not writable by anyone else. */
export async function installScripts(ssh: SshConnection, layout: ServerLayout): Promise<void> {
  const { berthShell, auditAppend } = renderScripts(layout);
  const put = (name: string, text: string) =>
    `printf %s '${Buffer.from(text).toString('base64')}' | base64 -d > ${layout.libDir}/.${name}.new && ` +
    `chmod 755 ${layout.libDir}/.${name}.new && mv -f ${layout.libDir}/.${name}.new ${layout.libDir}/${name}`;
  const script = [
    'set -e',
    'umask 022',
    `mkdir -p ${layout.libDir} ${layout.berthDir}/lock ${layout.berthDir}/gateway`,
    `mkdir -p -m 750 ${layout.berthDir}/audit`,
    put('berth-shell', berthShell),
    put('berth-audit-append', auditAppend),
  ].join('\n');
  await ssh.run(asRoot(ssh, script), { timeoutMs: TIMEOUT_MS });
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
  const file = authorizedKeysWord(layout);
  const read = await ssh.exec(`f=${file}; cat "$f" 2>/dev/null || true`, { timeoutMs: TIMEOUT_MS });
  const current = read.stdout;
  const lines = members.map((m) => memberLine(layout.libDir, m, !isRoot(ssh)));
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

  const script = [
    `f=${file}`,
    'umask 077',
    'mkdir -p "$(dirname "$f")"',
    'tmp="$f.berth-new"',
    'cat > "$tmp" || exit 1',
    `cur=$(cat "$f" 2>/dev/null | sha256sum | cut -c1-64)`,
    `if [ "$cur" != ${sha256(current)} ]; then rm -f "$tmp"; echo "authorized_keys changed while Berth was updating it; push again" >&2; exit 75; fi`,
    'chmod 600 "$tmp" && mv -f "$tmp" "$f"',
  ].join('\n');
  await ssh.run(`sh -c ${shellQuote(script)}`, { stdin: merged.content, timeoutMs: TIMEOUT_MS });
  return { removed: merged.removed };
}

/** Appends one canonical entry to the server's audit file; the server chains it (resources/server/berth-audit-append). */
export async function appendAudit(ssh: SshConnection, layout: ServerLayout, canonicalEntry: string): Promise<{ seq: number; hash: string }> {
  // The appender is sent inline, so auditing works on a server before berth-shell was ever installed there.
  const { auditAppend } = renderScripts(layout);
  const command = `bash -c ${shellQuote(auditAppend)} berth-audit-append ${shellQuote(layout.berthDir)}`;
  const out = await ssh.run(isRoot(ssh) ? command : `sudo -n ${command}`, { stdin: canonicalEntry, timeoutMs: TIMEOUT_MS });
  const match = /^(\d+) ([0-9a-f]{64})\s*$/.exec(out);
  if (!match) throw new BerthError('RemoteCommandFailed', `The audit appender on ${ssh.target.host} answered "${out.trim().slice(0, 200)}"`);
  return { seq: Number(match[1]), hash: match[2] };
}

export async function readAuditFile(ssh: SshConnection, layout: ServerLayout): Promise<string> {
  const file = `${layout.berthDir}/audit/audit.jsonl`;
  return ssh.run(asRoot(ssh, `cat ${file} 2>/dev/null || true`), { timeoutMs: 60_000 });
}

export interface RemoteLock {
  model: string;
  holder: string | null;
  machine: string | null;
  message: string | null;
  since: string | null;
}

/** Every deploy lock held on the server (see services/deploy/lock.ts: a directory per model holding info.json). */
export async function listLocks(ssh: SshConnection, layout: ServerLayout): Promise<RemoteLock[]> {
  const script = `for d in ${layout.berthDir}/lock/*/; do [ -d "$d" ] || continue; m=\${d%/}; m=\${m##*/}; printf '%s\\t%s\\n' "$m" "$(head -c 4096 "$d/info.json" 2>/dev/null | tr -d '\\n')"; done`;
  const out = await ssh.run(asRoot(ssh, script), { timeoutMs: TIMEOUT_MS });
  return out
    .split('\n')
    .filter((line) => line.includes('\t'))
    .map((line) => {
      const [model, note] = [line.slice(0, line.indexOf('\t')), line.slice(line.indexOf('\t') + 1)];
      let info: Record<string, unknown> = {};
      try {
        info = JSON.parse(note);
      } catch {
        // a lock without a readable note is still a lock: shown with an unknown holder
      }
      const text = (v: unknown) => (typeof v === 'string' ? v : null);
      return { model, holder: text(info.holder), machine: text(info.machine), message: text(info.message), since: text(info.since) };
    });
}

/** Removes the model's lock; reports whether one was held. */
export async function breakLock(ssh: SshConnection, layout: ServerLayout, model: string): Promise<boolean> {
  if (!MODEL_RE.test(model)) throw new BerthError('ValidationError', `"${model}" is not a model name`);
  const dir = `${layout.berthDir}/lock/${model}`;
  const out = await ssh.run(asRoot(ssh, `if [ -d ${dir} ]; then rm -rf ${dir}; echo held; else echo free; fi`), { timeoutMs: TIMEOUT_MS });
  return out.trim() === 'held';
}
