/** Who acts on a server: the roles of a team, and a member as a server resolves them from their key. */
import { z } from 'zod';

export const roles = ['viewer', 'deployer', 'admin'] as const;
export const Role = z.enum(roles);
export type Role = z.infer<typeof Role>;

/**
 * Who a member's key is on one server, as that server's berth-shell resolves it (`whoami`): the rights come from
 * the group states there, never from the client.
 */
export const MemberIdentity = z.object({
  member: z.string(),
  name: z.string(),
  role: Role,
  groups: z.record(z.string(), z.object({ role: Role, models: z.array(z.string()).nullish() })),
  host: z.string(),
});
export type MemberIdentity = z.infer<typeof MemberIdentity>;

/**
 * How this Berth logs in to a server: with a full shell (a root or sudo login, as when a server is claimed), or
 * as a team member through berth-shell, with the rights that server resolved from the key.
 */
export const ServerLogin = z.discriminatedUnion('kind', [z.object({ kind: z.literal('shell') }), MemberIdentity.extend({ kind: z.literal('member') })]);
export type ServerLogin = z.infer<typeof ServerLogin>;
