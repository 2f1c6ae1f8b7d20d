import { userInfo, hostname } from 'node:os';
import { BerthError } from '../../../../shared/errors';
import { shellQuote, type SshConnection } from '../transport/ssh';
import { BERTH_DIR } from './naming';

export interface LockInfo {
  holder: string;
  machine: string;
  message: string;
  since: string;
}

export const lockDir = (model: string) => `${BERTH_DIR}/lock/${model}`;

/** Who is acting, and from where: recorded in locks and the audit trail. */
export function currentActor(): { holder: string; machine: string } {
  return { holder: userInfo().username, machine: hostname() };
}

/**
 * Takes the model's deploy lock on one server. `mkdir` is atomic, so two Berth instances can never both win;
 * the holder's note is written inside. A held lock is reported with who, since when and why.
 */
export async function acquireLock(ssh: SshConnection, model: string, info: LockInfo, force = false): Promise<void> {
  const dir = lockDir(model);
  const note = shellQuote(JSON.stringify(info));
  const breakFirst = force ? `rm -rf ${dir}; ` : '';
  const result = await ssh.exec(
    `${breakFirst}mkdir -p ${BERTH_DIR}/lock && if mkdir ${dir} 2>/dev/null; then printf %s ${note} > ${dir}/info.json; echo acquired; else cat ${dir}/info.json 2>/dev/null; fi`,
    { timeoutMs: 15_000 },
  );
  const out = result.stdout.toString().trim();
  if (out === 'acquired') return;
  let held: Partial<LockInfo> = {};
  try {
    held = JSON.parse(out);
  } catch {
    // A lock without a readable note still blocks; it is reported as held by someone unknown.
  }
  throw new BerthError(
    'Conflict',
    `${model} is locked on ${ssh.target.host} by ${held.holder ?? 'someone'}@${held.machine ?? '?'} since ${held.since ?? '?'}` +
      `${held.message ? ` ("${held.message}")` : ''}. Wait for that deploy to finish, or break the lock if it is stale.`,
    { server: ssh.target.host, lock: held },
  );
}

export async function releaseLock(ssh: SshConnection, model: string): Promise<void> {
  await ssh.run(`rm -rf ${lockDir(model)}`, { timeoutMs: 15_000 });
}

export async function readLock(ssh: SshConnection, model: string): Promise<LockInfo | null> {
  const result = await ssh.exec(`cat ${lockDir(model)}/info.json 2>/dev/null`, { timeoutMs: 15_000 });
  try {
    return JSON.parse(result.stdout.toString());
  } catch {
    return null;
  }
}
