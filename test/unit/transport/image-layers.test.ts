import { describe, expect, it } from 'vitest';
import { chainIds, estimateLayerSizes, missingLayers, presentChains, splitTopLevelJson } from '../../../electron/main/services/transport/image-layers';
import { inventoryScript, parseInventory } from '../../../electron/main/services/transport/image-remote';

// Diff ids of a real 4-layer image (berth base + WORKDIR + 2 COPY) and the chain ids dockerd 20.10 stored for it
// (the directory names under /var/lib/docker/image/overlay2/layerdb/sha256/).
const diffIds = [
  'sha256:29c92574dad830380f200d42b197954ed86e845eaaae071af235689f1d432938',
  'sha256:d05c30ee31c62880c8f89f6e520c8f5c2ea1637016d7852fe56a155ddcc0b157',
  'sha256:03cef67a4c6b104570f2e894aebe9840a505989b28c653b7e47d5d985e50786a',
  'sha256:22942c0459eb0e93397e3229445fd83d86cf33ba90116edee8650da9d8a51958',
];

describe('chain ids', () => {
  it('match the ids dockerd gives its layers', () => {
    const chains = chainIds(diffIds);
    expect(chains[0]).toBe(diffIds[0]);
    expect(chains[2]).toBe('sha256:1e607c2ad22e6c22c0e3506cc4304db0909b155c3803259fb535683ad08c08c4');
    expect(chains[3]).toBe('sha256:51300e0654d5e4b4bf5f53acc7b528d1465eb23ae2931e3c56c27e95575ee4ac');
  });

  it('a server with the base image lacks the layers above it, and only those', () => {
    const present = presentChains([[diffIds[0]], ['sha256:' + 'a'.repeat(64)]]);
    expect(missingLayers(chainIds(diffIds), present)).toEqual([false, true, true, true]);
    // the same diff id on top of a different base is a different layer
    expect(missingLayers(chainIds([diffIds[1]]), presentChains([diffIds.slice(0, 2)]))).toEqual([true]);
    const all = presentChains([diffIds]);
    expect(missingLayers(chainIds(diffIds), all)).toEqual([false, false, false, false]);
    expect(missingLayers(chainIds(diffIds), presentChains([]))).toEqual([true, true, true, true]);
  });
});

describe('splitTopLevelJson', () => {
  it('keeps each value byte for byte, Go escapes included', () => {
    const text = '{"a":"x\\u003cy\\"z","b":{"c":[1,{"d":"}"}]},"e":null,"f":-1.5e3,"g":true,"h":[]}';
    const fields = splitTopLevelJson(text);
    expect([...fields.keys()]).toEqual(['a', 'b', 'e', 'f', 'g', 'h']);
    expect(fields.get('a')).toBe('"x\\u003cy\\"z"');
    expect(fields.get('b')).toBe('{"c":[1,{"d":"}"}]}');
    expect(fields.get('f')).toBe('-1.5e3');
    expect(splitTopLevelJson(' { } ').size).toBe(0);
  });

  it('rejects what is not an object', () => {
    expect(() => splitTopLevelJson('[1]')).toThrow();
    expect(() => splitTopLevelJson('{"a":')).toThrow();
    expect(() => splitTopLevelJson('{"a":"unterminated}')).toThrow();
  });
});

describe('estimateLayerSizes', () => {
  it('maps docker history (newest first, with empty entries) onto layers, oldest first', () => {
    // history of the real image: COPY b.py 9, ENV 0 (no layer), COPY a.py 9, WORKDIR 0 (a layer), base 972 MB
    const history = [{ Size: 9 }, { Size: 0 }, { Size: 9 }, { Size: 0 }, { Size: 972504313 }];
    const sizes = estimateLayerSizes(history, 4);
    expect(sizes).toHaveLength(4);
    expect(sizes[0]).toBe(972504313);
    // whatever lacks only the top layers is estimated small, not as the base
    expect(sizes.slice(1).reduce((a, b) => a + b, 0)).toBe(18);
  });

  it('pads when history is unavailable', () => {
    expect(estimateLayerSizes([], 3)).toEqual([0, 0, 0]);
  });
});

describe('remote inventory', () => {
  it('parses what the inventory script prints, tolerating a cut line', () => {
    const out = [
      'ref=sha256:' + 'b'.repeat(64),
      'has-id=yes',
      'gzip=yes',
      'driver=[["Backing Filesystem","extfs"],["Supports d_type","true"]]',
      `layers=${JSON.stringify(diffIds.slice(0, 1))}`,
      `layers=${JSON.stringify(diffIds)}`,
      'layers=["sha256:cut',
      'layers=null',
    ].join('\n');
    const inv = parseInventory(out);
    expect(inv).toMatchObject({ refId: 'sha256:' + 'b'.repeat(64), hasId: true, gzip: true, containerdStore: false });
    expect(inv.layerLists).toEqual([diffIds.slice(0, 1), diffIds]);
  });

  it('reads an empty server and a containerd image store', () => {
    const inv = parseInventory('ref=\ndriver=[["driver-type","io.containerd.snapshotter.v1"]]\n');
    expect(inv).toEqual({ refId: null, hasId: false, gzip: false, containerdStore: true, layerLists: [] });
  });

  it('passes the reference and id as positional arguments (never in the script text), and names its verb', () => {
    const command = inventoryScript("evil'; rm -rf /;'", 'sha256:abc');
    expect(String(command).endsWith(` sh 'evil'\\''; rm -rf /;'\\''' sha256:abc`)).toBe(true);
    expect(String(command)).toContain('[ -n "$ids" ]'); // a server without images is not an error
    expect(command.verb).toEqual({ words: ['image-inventory', "evil'; rm -rf /;'", 'sha256:abc'] });
  });
});
