import { createHash } from 'node:crypto';
import { appendFileSync, mkdirSync, mkdtempSync, readFileSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { appendAudit, installScripts, pushAuthorizedKeys, readAuditFile, renderAuditAppend } from '../../../electron/main/services/access/remote';
import { defaultLayout, type ServerLayout } from '../../../electron/main/services/remote/layout';
import { invocations, RecordingShell, runLocally, type Rule } from '../support/recording-shell';

/** Single-quoted for sh, independently of the builder under test. */
const quoted = (text: string) => `'${text.replaceAll("'", `'\\''`)}'`;
const base64 = (text: string) => Buffer.from(text).toString('base64');
const sha256 = (text: string) => createHash('sha256').update(text).digest('hex');

const PREPARE_LIB = `set -e
umask 022
mkdir -p "$1" "$2/lock" "$2/gateway" "$2/tmp"
mkdir -p -m 750 "$2/audit"
printf %s "$3" | base64 -d > "$1/.berth-audit-append.new" && chmod 755 "$1/.berth-audit-append.new" && mv -f "$1/.berth-audit-append.new" "$1/berth-audit-append"
if [ -f "$1/berth-shell" ]; then sha256sum "$1/berth-shell" | cut -c1-64; else echo none; fi`;
const INSTALL_SHELL = `set -e
umask 022
cat > "$1/.berth-shell.new"
[ "$(sha256sum "$1/.berth-shell.new" | cut -c1-64)" = "$2" ] || { rm -f "$1/.berth-shell.new"; echo "berth-shell arrived damaged; try again" >&2; exit 1; }
chmod 755 "$1/.berth-shell.new" && mv -f "$1/.berth-shell.new" "$1/berth-shell"`;
const KEYS_FILE = 'case "$1" in /*) f=$1 ;; *) f=$HOME/$1 ;; esac';
const READ_KEYS = `${KEYS_FILE}\ncat "$f" 2>/dev/null || true`;
const SWAP_KEYS = `${KEYS_FILE}
umask 077
mkdir -p "$(dirname "$f")"
tmp="$f.berth-new"
cat > "$tmp" || exit 1
cur=$(cat "$f" 2>/dev/null | sha256sum | cut -c1-64)
if [ "$cur" != "$2" ]; then rm -f "$tmp"; echo "authorized_keys changed while Berth was updating it; push again" >&2; exit 75; fi
chmod 600 "$tmp" && mv -f "$tmp" "$f"`;

/** A public key line of the right shape (the blob names its type), for a member or an outside login. */
function publicKey(seed: string): string {
  const type = Buffer.from('ssh-ed25519');
  const blob = Buffer.concat([Buffer.from([0, 0, 0, type.length]), type, Buffer.from([0, 0, 0, 32]), createHash('sha256').update(seed).digest()]);
  return `ssh-ed25519 ${blob.toString('base64')}`;
}

const member = { id: 'm_aaaa1', role: 'viewer' as const, publicKey: publicKey('alice') };
const OUTSIDE = `${publicKey('admin')} admin@laptop\n`;
const root = (rules: Rule[] = []) => new RecordingShell(rules, { username: 'root' });
const deployUser = (rules: Rule[] = []) => new RecordingShell(rules, { username: 'deploy' });

/** Runs every command in a local sh with HOME at `home`, as a server would. */
const localServer = (home: string, username = 'root') =>
  new RecordingShell([[() => true, (command, stdin) => runLocally(command, stdin, { ...process.env, HOME: home })]], { username });

describe('installScripts', () => {
  const auditAppend = renderAuditAppend(defaultLayout);
  // Text standing in for the gateway binary: the fake shell records stdin as text.
  const shellBinary = { bytes: Buffer.from('#!/bin/sh\necho berth-shell\n'), sha256: sha256('#!/bin/sh\necho berth-shell\n') };
  const prepare = `sh -c ${quoted(PREPARE_LIB)} sh /usr/local/lib/berth /var/lib/berth ${base64(auditAppend)}`;
  const install = `sh -c ${quoted(INSTALL_SHELL)} sh /usr/local/lib/berth ${shellBinary.sha256}`;

  it('writes the appender from a base64 parameter and sends berth-shell on stdin, checked by its hash, as root', async () => {
    const shell = root([[PREPARE_LIB.slice(-20), { stdout: 'none\n' }]]);
    await installScripts(shell.connection, defaultLayout, shellBinary);
    expect(shell.recorded).toEqual([
      { command: prepare, timeoutMs: 20_000 },
      { command: install, stdin: shellBinary.bytes.toString(), timeoutMs: 120_000 },
    ]);
  });

  it('sends nothing more when the server already has this berth-shell', async () => {
    const shell = root([[PREPARE_LIB.slice(-20), { stdout: `${shellBinary.sha256}\n` }]]);
    await installScripts(shell.connection, defaultLayout, shellBinary);
    expect(shell.commands).toEqual([prepare]);
  });

  it('goes through sudo -n when Berth does not log in as root', async () => {
    const shell = deployUser([[PREPARE_LIB.slice(-20), { stdout: 'none\n' }]]);
    await installScripts(shell.connection, defaultLayout, shellBinary);
    expect(shell.commands).toEqual([`sudo -n ${prepare}`, `sudo -n ${install}`]);
  });

  it('passes hostile folders as parameters', async () => {
    const layout: ServerLayout = { ...defaultLayout, berthDir: '/srv/$(echo injected)', libDir: "/opt/it's" };
    const shell = root([[PREPARE_LIB.slice(-20), { stdout: 'none\n' }]]);
    await installScripts(shell.connection, layout, shellBinary);
    const [[, , script, , lib, state]] = invocations(shell.commands[0], ['sh']);
    expect([script, lib, state]).toEqual([PREPARE_LIB, "/opt/it's", '/srv/$(echo injected)']);
  });

  it('really installs both, executable and whole, and refuses a berth-shell that arrived damaged', async () => {
    const top = mkdtempSync(join(tmpdir(), 'berth-install-'));
    const layout: ServerLayout = { ...defaultLayout, berthDir: join(top, 'state'), libDir: join(top, 'lib') };
    await installScripts(localServer(top).connection, layout, shellBinary);
    expect(readFileSync(join(layout.libDir, 'berth-shell'))).toEqual(shellBinary.bytes);
    expect(readFileSync(join(layout.libDir, 'berth-audit-append'), 'utf8')).toBe(renderAuditAppend(layout));
    expect(statSync(join(layout.libDir, 'berth-shell')).mode & 0o777).toBe(0o755);
    expect(statSync(join(layout.berthDir, 'audit')).mode & 0o777).toBe(0o750);
    const damaged = { bytes: Buffer.from('#!/bin/sh\necho other\n'), sha256: shellBinary.sha256.replace(/^./, '0') };
    await expect(installScripts(localServer(top).connection, layout, damaged)).rejects.toThrow(/berth-shell arrived damaged/);
    expect(readFileSync(join(layout.libDir, 'berth-shell'))).toEqual(shellBinary.bytes);
  });
});

describe('pushAuthorizedKeys', () => {
  it('reads the file, then swaps it only if it still has the hash it was read with', async () => {
    const shell = root([['cat "$f" 2>/dev/null || true', { stdout: OUTSIDE }]]);
    const result = await pushAuthorizedKeys(shell.connection, defaultLayout, [member]);
    expect(result).toEqual({ removed: [] });
    expect(shell.recorded).toEqual([
      { command: `sh -c ${quoted(READ_KEYS)} sh .ssh/authorized_keys`, timeoutMs: 20_000 },
      {
        command: `sh -c ${quoted(SWAP_KEYS)} sh .ssh/authorized_keys ${sha256(OUTSIDE)}`,
        stdin: expect.stringContaining(`berth-member:${member.id}`),
        timeoutMs: 20_000,
      },
    ]);
    expect(shell.recorded[1].stdin).toContain(OUTSIDE);
  });

  it('writes nothing when the block is already right', async () => {
    const first = root([['cat "$f"', { stdout: OUTSIDE }]]);
    await pushAuthorizedKeys(first.connection, defaultLayout, [member]);
    const current = first.recorded[1].stdin!;
    const second = root([['cat "$f"', { stdout: current }]]);
    await pushAuthorizedKeys(second.connection, defaultLayout, [member]);
    expect(second.commands).toHaveLength(1);
  });

  it('passes a hostile key path as a parameter', async () => {
    const layout = { ...defaultLayout, authorizedKeys: "/home/it's $(echo injected)/keys" };
    const shell = root();
    await pushAuthorizedKeys(shell.connection, layout, [member]);
    expect(shell.commands[0]).toBe(`sh -c ${quoted(READ_KEYS)} sh '/home/it'\\''s $(echo injected)/keys'`);
    expect(invocations(shell.commands[1], ['sh'])[0].slice(3)).toEqual(['sh', layout.authorizedKeys, sha256('')]);
  });

  it('really rewrites the block below HOME, keeping the lines outside it', async () => {
    const home = mkdtempSync(join(tmpdir(), 'berth-home-'));
    mkdirSync(join(home, '.ssh'));
    writeFileSync(join(home, '.ssh/authorized_keys'), OUTSIDE);
    await pushAuthorizedKeys(localServer(home, 'deploy').connection, defaultLayout, [member]);
    const written = readFileSync(join(home, '.ssh/authorized_keys'), 'utf8');
    expect(written.startsWith(OUTSIDE)).toBe(true);
    expect(written).toContain(`sudo -n /usr/local/lib/berth/berth-shell --berth-dir=/var/lib/berth m_aaaa1`);
    expect(statSync(join(home, '.ssh/authorized_keys')).mode & 0o777).toBe(0o600);
  });

  it('really refuses the swap when the file changed since it was read', async () => {
    const home = mkdtempSync(join(tmpdir(), 'berth-home-'));
    const file = join(home, 'keys');
    writeFileSync(file, OUTSIDE);
    const racing = new RecordingShell([
      [
        'mv -f "$tmp" "$f"',
        (command, stdin) => {
          appendFileSync(file, `${publicKey('someone')} added meanwhile\n`);
          return runLocally(command, stdin);
        },
      ],
      [() => true, (command, stdin) => runLocally(command, stdin)],
    ]);
    const error = await pushAuthorizedKeys(racing.connection, { ...defaultLayout, authorizedKeys: file }, [member]).catch((e) => e);
    expect(error).toMatchObject({ kind: 'RemoteCommandFailed', detail: { code: 75 } });
    expect(readFileSync(file, 'utf8')).toBe(`${OUTSIDE}${publicKey('someone')} added meanwhile\n`);
  });
});

describe('appendAudit and readAuditFile', () => {
  const auditAppend = renderAuditAppend(defaultLayout);
  const entry = '{"action":"deploy","target":"iris v1"}';
  const hash = 'a'.repeat(64);

  it('send the appender inline with the entry on stdin, and read the file', async () => {
    const shell = root([['berth-audit-append', { stdout: `7 ${hash}\n` }]]);
    expect(await appendAudit(shell.connection, defaultLayout, entry)).toEqual({ seq: 7, hash });
    await readAuditFile(shell.connection, defaultLayout);
    expect(shell.recorded).toEqual([
      { command: `bash -c ${quoted(auditAppend)} berth-audit-append /var/lib/berth`, stdin: entry, timeoutMs: 20_000 },
      { command: `sh -c 'cat "$1" 2>/dev/null || true' sh /var/lib/berth/audit/audit.jsonl`, timeoutMs: 60_000 },
    ]);
  });

  it('go through sudo -n when Berth does not log in as root', async () => {
    const shell = deployUser([['berth-audit-append', { stdout: `7 ${hash}\n` }]]);
    await appendAudit(shell.connection, defaultLayout, entry);
    await readAuditFile(shell.connection, defaultLayout);
    expect(shell.commands).toEqual([
      `sudo -n bash -c ${quoted(auditAppend)} berth-audit-append /var/lib/berth`,
      `sudo -n sh -c 'cat "$1" 2>/dev/null || true' sh /var/lib/berth/audit/audit.jsonl`,
    ]);
  });

  it('refuse an answer that is not "<seq> <hash>"', async () => {
    const shell = root([['berth-audit-append', { stdout: 'surprise' }]]);
    await expect(appendAudit(shell.connection, defaultLayout, entry)).rejects.toMatchObject({ kind: 'RemoteCommandFailed' });
  });

  it('pass a hostile folder as a parameter', async () => {
    const layout = { ...defaultLayout, berthDir: "/srv/it's $(echo injected)" };
    const shell = root([['berth-audit-append', { stdout: `1 ${hash}` }]]);
    await appendAudit(shell.connection, layout, entry);
    await readAuditFile(shell.connection, layout);
    expect(invocations(shell.commands[0], ['bash'])[0].slice(3)).toEqual(['berth-audit-append', layout.berthDir]);
    expect(shell.commands[1]).toBe(`sh -c 'cat "$1" 2>/dev/null || true' sh '/srv/it'\\''s $(echo injected)/audit/audit.jsonl'`);
  });

  it('really chain entries and read them back', async () => {
    const top = mkdtempSync(join(tmpdir(), 'berth-audit-'));
    const layout: ServerLayout = { ...defaultLayout, berthDir: top };
    const shell = localServer(top);
    expect(await readAuditFile(shell.connection, layout)).toBe('');
    const first = await appendAudit(shell.connection, layout, entry);
    const second = await appendAudit(shell.connection, layout, entry);
    expect([first.seq, second.seq]).toEqual([1, 2]);
    const lines = (await readAuditFile(shell.connection, layout)).trim().split('\n').map((l) => JSON.parse(l));
    expect(lines.map((l) => [l.seq, l.hash, l.prev])).toEqual([
      [1, first.hash, '0'.repeat(64)],
      [2, second.hash, first.hash],
    ]);
  });
});
