import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { fingerprintOf, keyTypeOf } from '../../../electron/main/services/transport/host-key';
import { shellQuote } from '../../../electron/main/services/transport/ssh';

describe('host key fingerprints', () => {
  it('match what ssh-keygen -lf prints', () => {
    const dir = mkdtempSync(join(tmpdir(), 'berth-hk-'));
    execFileSync('ssh-keygen', ['-q', '-t', 'ed25519', '-N', '', '-f', join(dir, 'k')]);
    const blob = Buffer.from(readFileSync(join(dir, 'k.pub'), 'utf8').split(' ')[1], 'base64');
    const expected = execFileSync('ssh-keygen', ['-lf', join(dir, 'k.pub')], { encoding: 'utf8' }).split(' ')[1];
    expect(fingerprintOf(blob)).toBe(expected);
    expect(keyTypeOf(blob)).toBe('ssh-ed25519');
  });

  it('quotes shell arguments so a single quote cannot break out', () => {
    expect(shellQuote("it's")).toBe(`'it'\\''s'`);
    expect(execFileSync('sh', ['-c', `printf %s ${shellQuote("a'b; echo pwned")}`], { encoding: 'utf8' })).toBe("a'b; echo pwned");
  });
});
