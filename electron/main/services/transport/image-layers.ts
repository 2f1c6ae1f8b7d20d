import { createHash } from 'node:crypto';

/**
 * Layer identity, as the Docker engine sees it. `docker load` looks a layer up by its *chain id* (the layer plus
 * everything below it) and reads the layer's tar only when that chain is missing (moby image/tarexport/load.go), so
 * chain ids decide what a server lacks.
 */

const sha256 = (text: string) => `sha256:${createHash('sha256').update(text).digest('hex')}`;

/** chainID(L0) = diffID0; chainID(Ln) = sha256(chainID(Ln-1) + " " + diffIDn). */
export function chainIds(diffIds: readonly string[]): string[] {
  const chains: string[] = [];
  for (const diffId of diffIds) chains.push(chains.length === 0 ? diffId : sha256(`${chains[chains.length - 1]} ${diffId}`));
  return chains;
}

/** Every chain id a server holds, from the diff-id lists of its images (each image holds all prefixes of its stack). */
export function presentChains(layerLists: Iterable<readonly string[]>): Set<string> {
  const present = new Set<string>();
  for (const list of layerLists) for (const chain of chainIds(list)) present.add(chain);
  return present;
}

/** missing[i]: the server lacks layer i (with everything below it), so its tar must be sent. */
export function missingLayers(chains: readonly string[], present: ReadonlySet<string>): boolean[] {
  return chains.map((chain) => !present.has(chain));
}

/**
 * Splits a JSON object's top level into key -> raw value text, keeping each value's bytes exactly as written
 * (JSON.parse would lose Go's escaping, which the legacy v1 id hashes over).
 */
export function splitTopLevelJson(text: string): Map<string, string> {
  const out = new Map<string, string>();
  let i = 0;
  const fail = (): never => {
    throw new Error(`not a JSON object (at ${i})`);
  };
  const skipSpace = () => {
    while (i < text.length && ' \t\r\n'.includes(text[i])) i++;
  };
  const skipString = () => {
    if (text[i] !== '"') fail();
    for (i++; i < text.length && text[i] !== '"'; i++) if (text[i] === '\\') i++;
    if (i >= text.length) fail();
    i++;
  };
  const skipValue = () => {
    const c = text[i];
    if (c === '"') return skipString();
    if (c === '{' || c === '[') {
      let depth = 0;
      do {
        if (i >= text.length) fail();
        const d = text[i];
        if (d === '"') {
          skipString();
          continue;
        }
        if (d === '{' || d === '[') depth++;
        else if (d === '}' || d === ']') depth--;
        i++;
      } while (depth > 0);
      return;
    }
    const start = i;
    while (i < text.length && !',}] \t\r\n'.includes(text[i])) i++;
    if (i === start) fail();
  };
  skipSpace();
  if (text[i] !== '{') fail();
  i++;
  skipSpace();
  if (text[i] === '}') return out;
  for (;;) {
    skipSpace();
    const keyStart = i;
    skipString();
    const key = JSON.parse(text.slice(keyStart, i)) as string;
    skipSpace();
    if (text[i] !== ':') fail();
    i++;
    skipSpace();
    const valueStart = i;
    skipValue();
    out.set(key, text.slice(valueStart, i));
    skipSpace();
    if (text[i] === ',') {
      i++;
      continue;
    }
    if (text[i] !== '}') fail();
    return out;
  }
}

/**
 * Which layer (index into the image's diff ids) a legacy `docker save` directory holds (Docker ≤ 24 names each
 * layer's directory by its v1 id). The v1 id is sha256 over the directory's `json` without "id", with "layer_id" =
 * the chain id and "parent" = "sha256:<parent v1 id>", keys sorted (moby image/v1 CreateID); "os" is added to the
 * file after hashing for all but the top layer. We try each chain id: a hash match proves the index, and no match
 * (an unknown format) returns undefined so the caller sends the layer rather than guess.
 */
export function legacyLayerIndex(v1Id: string, jsonText: string, chains: readonly string[]): number | undefined {
  let fields: Map<string, string>;
  try {
    fields = splitTopLevelJson(jsonText);
  } catch {
    return undefined;
  }
  const base = new Map(fields);
  base.delete('id');
  const parent = base.get('parent');
  if (parent !== undefined) {
    try {
      base.set('parent', JSON.stringify(`sha256:${JSON.parse(parent) as string}`));
    } catch {
      return undefined;
    }
  }
  const variants = [base, new Map([...base].filter(([key]) => key !== 'os'))];
  for (const variant of variants) {
    for (let index = 0; index < chains.length; index++) {
      variant.set('layer_id', JSON.stringify(chains[index]));
      const canonical = `{${[...variant.keys()]
        .sort()
        .map((key) => `${JSON.stringify(key)}:${variant.get(key)}`)
        .join(',')}}`;
      if (sha256(canonical) === `sha256:${v1Id}`) return index;
    }
  }
  return undefined;
}

/**
 * Estimated uncompressed size of each layer (oldest first) from `docker history` (newest first). History has
 * entries without a layer (ENV, CMD…) that the API does not mark; they all have size 0, so zero-size entries are
 * counted as layers from the newest end until the layer count fits: a lower bound for any newest-layers suffix,
 * which is what a server lacks.
 */
export function estimateLayerSizes(historyNewestFirst: readonly { Size: number }[], layerCount: number): number[] {
  const nonEmpty = historyNewestFirst.filter((h) => h.Size > 0).length;
  let zeroLayers = Math.max(0, layerCount - nonEmpty);
  const sizes: number[] = [];
  for (const entry of historyNewestFirst) {
    if (sizes.length === layerCount) break;
    if (entry.Size > 0) sizes.push(entry.Size);
    else if (zeroLayers > 0) {
      sizes.push(0);
      zeroLayers--;
    }
  }
  while (sizes.length < layerCount) sizes.push(0);
  return sizes.reverse();
}
