import { execFileSync, spawn } from 'node:child_process';
import { once } from 'node:events';
import { describe, expect, it } from 'vitest';
import { compareDockerTs, lineSplitter, splitTimestamp, tiedToChannel } from '../../../electron/main/services/logs/remote';
import { all, command, docker } from '../../../electron/main/services/remote/command';

const running = (marker: string) => {
  try {
    return execFileSync('pgrep', ['-f', marker]).toString().trim() !== '';
  } catch {
    return false;
  }
};

describe('remote log helpers', () => {
  it('stops the tied command when its stdin closes (the SSH channel went away)', async () => {
    const marker = `sleep 31.${process.pid}`;
    const child = spawn('sh', ['-c', String(tiedToChannel(command('sleep', `31.${process.pid}`)))], { stdio: ['pipe', 'pipe', 'pipe'] });
    await new Promise((r) => setTimeout(r, 300));
    expect(running(marker)).toBe(true);
    const started = Date.now();
    child.stdin.end();
    const [code] = await once(child, 'exit');
    expect(Date.now() - started).toBeLessThan(2000);
    expect(code).not.toBe(0);
    expect(running(marker)).toBe(false);
  });

  it('passes output and the exit code through when the command ends by itself', async () => {
    const child = spawn('sh', ['-c', String(tiedToChannel(command('sh', '-c', "printf 'a\\nb\\n'; exit 3")))], { stdio: ['pipe', 'pipe', 'pipe'] });
    let out = '';
    child.stdout.on('data', (c) => (out += c));
    const [code] = await once(child, 'close'); // 'exit' may come before the last output is read
    expect(out).toBe('a\nb\n');
    expect(code).toBe(3);
  });

  it('keeps the verb of the tied command (a member sends that), and ties only one simple command', () => {
    const follow = docker('logs', '--follow', 'abc123').asVerb(['logs', 'berth-iris-v1-r1', '--follow']);
    expect(tiedToChannel(follow).verb).toEqual({ words: ['logs', 'berth-iris-v1-r1', '--follow'] });
    expect(String(tiedToChannel(follow)).endsWith(' sh docker logs --follow abc123')).toBe(true);
    expect(() => tiedToChannel(all(command('true'), command('false')))).toThrow(/one simple command/);
  });

  it('splits chunks into lines across UTF-8 and line boundaries, and cuts runaway lines', () => {
    const lines: string[] = [];
    const splitter = lineSplitter((l) => lines.push(l));
    const bytes = Buffer.from('héllo\r\nwor');
    splitter.push(bytes.subarray(0, 2)); // cuts the é in half
    splitter.push(bytes.subarray(2));
    splitter.push(Buffer.from('ld\n' + 'x'.repeat(40_000)));
    splitter.end();
    expect(lines[0]).toBe('héllo');
    expect(lines[1]).toBe('world');
    expect(lines.slice(2)).toEqual([`${'x'.repeat(16 * 1024)}…`]);
    splitter.push(Buffer.from('next\n'));
    expect(lines.at(-1)).toBe('next');
  });

  it('reads Docker timestamps and compares them to the nanosecond', () => {
    expect(splitTimestamp('2025-01-31T12:00:00.123456789Z hello world')).toEqual(['2025-01-31T12:00:00.123456789Z', 'hello world']);
    expect(splitTimestamp('no timestamp here')).toEqual(['', 'no timestamp here']);
    expect(compareDockerTs('2025-01-31T12:00:00.123456789Z', '2025-01-31T12:00:00.123456788Z')).toBe(1);
    expect(compareDockerTs('2025-01-31T12:00:00.1Z', '2025-01-31T12:00:00.100000000Z')).toBe(0);
    expect(compareDockerTs('2025-01-31T12:00:00Z', '2025-01-31T12:00:00.000000001Z')).toBe(-1);
  });
});
