import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import { all, command, docker, each, orElse, pipe, quoteWord, script, tolerant } from '../../../electron/main/services/remote/command';
import { invocations } from '../support/recording-shell';

describe('quoteWord', () => {
  it('leaves words of plain characters bare', () => {
    expect(quoteWord('berth-iris-v1-r1')).toBe('berth-iris-v1-r1');
    expect(quoteWord('/var/lib/berth/gateway:/etc/berth-gateway:ro')).toBe('/var/lib/berth/gateway:/etc/berth-gateway:ro');
    expect(quoteWord('label=berth.port')).toBe('label=berth.port');
    expect(quoteWord(9100)).toBe('9100');
  });

  it('single-quotes spaces, $, operators, globs and templates', () => {
    expect(quoteWord('two words')).toBe("'two words'");
    expect(quoteWord('$HOME')).toBe("'$HOME'");
    expect(quoteWord('$(reboot)')).toBe("'$(reboot)'");
    expect(quoteWord('a;b')).toBe("'a;b'");
    expect(quoteWord('a && b')).toBe("'a && b'");
    expect(quoteWord('a|b')).toBe("'a|b'");
    expect(quoteWord('*')).toBe("'*'");
    expect(quoteWord('{{.Id}}')).toBe("'{{.Id}}'");
  });

  it('quotes the empty string, so it stays a word', () => {
    expect(quoteWord('')).toBe("''");
    expect(invocations(command('a', '', 'b'), ['a'])).toEqual([['a', '', 'b']]);
  });

  it('closes, escapes and reopens around a single quote', () => {
    expect(quoteWord("it's")).toBe(`'it'\\''s'`);
    expect(quoteWord('say "hi"')).toBe(`'say "hi"'`);
  });

  it('gives a shell back exactly the value, whatever it holds', () => {
    const hostile = [`it's`, '$(echo injected)', '`echo injected`', 'a; echo injected', '"$HOME"', 'tab\there', 'new\nline', '\\'];
    expect(invocations(command('x', ...hostile), ['x'])).toEqual([['x', ...hostile]]);
  });
});

describe('commands', () => {
  it('quotes every word of a program', () => {
    expect(String(docker('logs', '--tail', 40, 'my container'))).toBe("docker logs --tail 40 'my container'");
    expect(String(command('cat', "/tmp/it's"))).toBe(`cat '/tmp/it'\\''s'`);
  });

  it('joins commands with unquoted operators', () => {
    const a = command('a', 'x y');
    const b = command('b');
    expect(String(all(a, b))).toBe("a 'x y' && b");
    expect(String(each(a, b))).toBe("a 'x y' ; b");
    expect(String(orElse(a, b))).toBe("a 'x y' || b");
    expect(String(pipe(a, b))).toBe("a 'x y' | b");
    expect(String(tolerant(a))).toBe("a 'x y' || true");
  });

  it('treats an operator given as a value as data', () => {
    expect(String(command('echo', '&&', ';', '||', '|', '>/dev/null'))).toBe(`echo '&&' ';' '||' '|' '>/dev/null'`);
  });

  it('discards or joins output with constant redirections', () => {
    const c = docker('start', 'a');
    expect(String(c.silenced())).toBe('docker start a >/dev/null');
    expect(String(c.silenced(true))).toBe('docker start a >/dev/null 2>&1');
    expect(String(c.withoutErrorOutput())).toBe('docker start a 2>/dev/null');
    expect(String(c.withErrorsInOutput())).toBe('docker start a 2>&1');
  });

  it('runs one program under a wrapper, and refuses a list', () => {
    expect(String(script('cat "$1"', 'a b').under('sudo', '-n'))).toBe(`sudo -n sh -c 'cat "$1"' sh 'a b'`);
    expect(String(command('sleep', 5).under('timeout', 2).withoutErrorOutput())).toBe('timeout 2 sleep 5 2>/dev/null');
    expect(() => all(command('a'), command('b')).under('sudo', '-n')).toThrow(/Cannot run a list/);
  });
});

describe('script', () => {
  it('is a constant sh -c script with the values as positional parameters', () => {
    expect(String(script('mkdir -p "$1" && echo "$2"', '/srv/my dir', "it's"))).toBe(`sh -c 'mkdir -p "$1" && echo "$2"' sh '/srv/my dir' 'it'\\''s'`);
  });

  it('hands each value to the script as one parameter, never as script text', () => {
    const text = String(script('printf "%s|" "$@"', '$(echo injected)', 'a b', "'; echo injected; '"));
    const printed = spawnSync('sh', ['-c', text], { encoding: 'utf8' }).stdout;
    expect(printed).toBe(`$(echo injected)|a b|'; echo injected; '|`);
  });
});
