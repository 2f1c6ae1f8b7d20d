import { hostname, userInfo } from 'node:os';

/**
 * Who is acting, and from where, as this Berth knows it: written into locks and revisions so people can see who
 * holds what. It is informational; issue 12 makes the servers resolve the acting member from the SSH key.
 */
export function currentActor(): { holder: string; machine: string } {
  return { holder: userInfo().username, machine: hostname() };
}
