import { mkdirSync, readFileSync, unlinkSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { BerthError } from '../../../../shared/errors';
import type { AppInfo } from '../../../../shared/types';
import { isRunning, parseOwner, thisProcess, type ProcessOwner } from './process-owner';

/**
 * One app or web mode per data folder: the one that opens it writes `owner.json` (pid, start time, mode), and another
 * that finds a live owner there refuses to start, since both would recover, monitor and heal the same deployments.
 * The CLI takes no ownership: it runs alongside the owner and never recovers another process's operations.
 */
export interface FolderOwner extends ProcessOwner {
  mode: AppInfo['mode'];
  since: string;
}

const OWNER_FILE = 'owner.json';

const describe = (owner: FolderOwner) =>
  `${owner.mode === 'electron' ? 'the Berth app' : `Berth ${owner.mode} mode`} (pid ${owner.pid}, since ${owner.since})`;

function readOwner(home: string): FolderOwner | null {
  try {
    const text = readFileSync(join(home, OWNER_FILE), 'utf8');
    const owner = parseOwner(text);
    return owner ? { ...(JSON.parse(text) as FolderOwner), ...owner } : null;
  } catch {
    return null;
  }
}

/** The live process that owns the folder, if any (an owner file left by a crash names none). */
export function folderOwner(home: string): FolderOwner | null {
  const owner = readOwner(home);
  return owner && isRunning(owner) ? owner : null;
}

/**
 * Makes this process the folder's owner, or refuses, naming the live one. Returns the release, which removes the
 * owner file if it is still this process's.
 */
export function claimDataFolder(home: string, mode: AppInfo['mode'], now: () => Date = () => new Date()): () => void {
  mkdirSync(home, { recursive: true });
  const file = join(home, OWNER_FILE);
  const me: FolderOwner = { ...thisProcess(), mode, since: now().toISOString() };
  const mine = (owner: FolderOwner | null) => owner !== null && owner.pid === me.pid && owner.started === me.started;
  for (let attempt = 0; attempt < 3; attempt++) {
    try {
      // Exclusive create: of two processes starting at once, one gets the file.
      writeFileSync(file, JSON.stringify(me), { flag: 'wx', mode: 0o600 });
      return () => {
        if (mine(readOwner(home))) unlinkSync(file);
      };
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
    }
    const current = folderOwner(home);
    if (current && !mine(current)) {
      throw new BerthError(
        'Conflict',
        `${describe(current)} already has the data folder ${home}: close it first, or give this one another folder with BERTH_HOME`,
      );
    }
    // Left by a Berth that stopped without removing it (or by this process): taken over.
    try {
      unlinkSync(file);
    } catch {
      // Another process took it over first; the next attempt sees its file.
    }
  }
  throw new BerthError('Conflict', `Could not take the data folder ${home}: another Berth keeps claiming it`);
}

/** What the CLI says when it shares the folder with a live app or web mode. */
export function sharedFolderNote(home: string): string | null {
  const owner = folderOwner(home);
  return owner ? `Note: ${describe(owner)} has this data folder open too; this command runs alongside it and leaves its operations to it.` : null;
}
