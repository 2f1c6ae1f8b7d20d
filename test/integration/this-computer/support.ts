import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { BERTH_DIR } from '../../../electron/main/services/remote/layout';
import { LOCAL_GROUP } from '../../../shared/project-file';

/**
 * Gives this computer back as no Berth has used it: its replicas, gateway and agent gone from the local engine, and
 * the group state of `local` removed. Tests that deploy to this computer start and end with it, as each data folder
 * made afresh would otherwise find the last test's models in the group state this computer keeps.
 */
export function resetThisComputer(): void {
  const ids = execFileSync('docker', ['ps', '-aq', '--filter', 'label=berth.model'], { encoding: 'utf8' }).split('\n').filter(Boolean);
  for (const name of [...ids, 'berth-gateway', 'berth-agent']) {
    execFileSync('docker', ['rm', '-f', name], { stdio: 'ignore' });
  }
  rmSync(`${BERTH_DIR}/groups/${LOCAL_GROUP}`, { recursive: true, force: true });
  // A gone agent's last word would hold the next gateway's requests until its catch-up timeout.
  rmSync(`${BERTH_DIR}/agent/view.json`, { force: true });
  rmSync(`${BERTH_DIR}/gateway/agent.json`, { force: true });
}
