import { readFile } from 'node:fs/promises';
import { homedir } from 'node:os';
import { join } from 'node:path';
import SSHConfig from 'ssh-config';
import { BerthError } from '../../../../shared/errors';
import type { SshConfigHost } from '../../../../shared/servers';

const expandHome = (path: string) => (path.startsWith('~/') ? join(homedir(), path.slice(2)) : path);

/** The file's text; a missing or unreadable file is said so, with its path, for the user to give another. */
async function readConfig(path: string): Promise<string> {
  try {
    return await readFile(expandHome(path), 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'ENOENT') throw new BerthError('NotFound', `There is no SSH config file at ${path}. Give the path of the one to import from.`);
    throw new BerthError('ValidationError', `${path} could not be read as an SSH config file (${code ?? (err as Error).message}). Give the path of the one to import from.`);
  }
}

/** Concrete hosts from an OpenSSH config file: one per Host section, named by its first alias (wildcards are defaults, not hosts). */
export async function importSshConfig(path = join(homedir(), '.ssh', 'config')): Promise<SshConfigHost[]> {
  const config = SSHConfig.parse(await readConfig(path));
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
