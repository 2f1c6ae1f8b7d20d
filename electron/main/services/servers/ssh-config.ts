import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import SSHConfig from 'ssh-config';
import type { SshConfigHost } from '../../../../shared/servers';

const expandHome = (path: string) => (path.startsWith('~/') ? join(homedir(), path.slice(2)) : path);

/** Concrete hosts from an OpenSSH config file: one per Host section, named by its first alias (wildcards are defaults, not hosts). */
export async function importSshConfig(path = join(homedir(), '.ssh', 'config')): Promise<SshConfigHost[]> {
  const text = await readFile(expandHome(path), 'utf8').catch(() => '');
  const config = SSHConfig.parse(text);
  const hosts: SshConfigHost[] = [];
  for (const section of config) {
    if (section.type !== SSHConfig.DIRECTIVE || section.param.toLowerCase() !== 'host') continue;
    const aliases = (Array.isArray(section.value) ? section.value.map((v) => v.val) : String(section.value).split(/\s+/)).filter(
      (alias) => !/[*?!]/.test(alias),
    );
    for (const alias of aliases.slice(0, 1)) {
      const resolved = config.compute(alias) as Record<string, string | string[] | undefined>;
      const first = (value: string | string[] | undefined) => (Array.isArray(value) ? value[0] : value);
      const identity = first(resolved.IdentityFile);
      hosts.push({
        alias,
        host: first(resolved.HostName) ?? alias,
        port: Number(first(resolved.Port) ?? 22),
        username: first(resolved.User) ?? null,
        identityFile: identity ? expandHome(identity) : null,
      });
    }
  }
  return hosts;
}
