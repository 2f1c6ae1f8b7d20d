import type { ApiKeyView } from '../../../../shared/access';

/** A request without a key: a public model's call (the gateway records "public"), or one refused before its key was read. */
export const NO_KEY = 'no key';

export const keyNamesOf = (keys: Pick<ApiKeyView, 'id' | 'name'>[]): ReadonlyMap<string, string> => new Map(keys.map((k) => [k.id, k.name]));

/** The caller as people know it: the key's name (its id when this Berth does not know the key), or "no key". */
export function callerLabel(caller: string | null, keyNames: ReadonlyMap<string, string>): string {
  if (caller === null || caller === 'public') return NO_KEY;
  return keyNames.get(caller) ?? caller;
}
