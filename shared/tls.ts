/**
 * HTTPS at the gateways and where they listen (docs/ARCHITECTURE.md, "HTTPS at the gateway"): group settings of the
 * group state, also shown in every GroupView.
 */
import { z } from 'zod';

/** `https`: the group's gateways refuse plain HTTP; `off`: they still serve it (groups made before HTTPS, until an admin switches). */
export const TlsMode = z.enum(['off', 'https']);
export type TlsMode = z.infer<typeof TlsMode>;

/** Where each server's gateway listens: every interface, or only the address the group names the server by (and loopback). */
export const ListenMode = z.enum(['all', 'host']);
export type ListenMode = z.infer<typeof ListenMode>;

/**
 * The group's certificate authority, which issues every server's gateway certificate. Only its certificate is in the
 * group state, for every Berth and client to trust; its private key stays encrypted in the Berth of the admin who
 * made it (`createdBy`, holder@machine).
 */
export const GroupAuthority = z
  .object({
    certificate: z.string().startsWith('-----BEGIN CERTIFICATE-----'),
    fingerprint: z.string().regex(/^[0-9a-f]{64}$/),
    createdBy: z.string(),
    createdAt: z.string().min(1),
  })
  .strict();
export type GroupAuthority = z.infer<typeof GroupAuthority>;
