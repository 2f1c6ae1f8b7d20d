import { describe, expect, it } from 'vitest';
import { BerthError } from '../../../shared/errors';
import { fieldLines, parseProjectFile, renderProjectFile } from '../../../electron/main/services/project/project-file';

const FP = `SHA256:${'A'.repeat(43)}`;
const good = `model = "iris"
memory_mb = 512

[group]
name = "prod"

[[group.servers]]
name = "tb1"
host = "10.0.0.2"
host_key = "${FP}"

[[group.servers]]
name = "tb2"
host = "10.0.0.3"
port = 2222
host_key = "${FP}"
`;

function problems(text: string) {
  try {
    parseProjectFile(text);
  } catch (err) {
    const e = err as BerthError;
    expect(e.kind).toBe('ProjectFileInvalid');
    return { message: e.message, issues: (e.detail as { issues: unknown[] }).issues };
  }
  throw new Error('parsed without a problem');
}

describe('berth.toml', () => {
  it('reads a deployment with defaults filled in', () => {
    const file = parseProjectFile(good);
    expect(file).toMatchObject({ model: 'iris', memory_mb: 512, cpus: 1, gpus: 0, readiness_timeout_s: 120 });
    expect(file.group.servers!.map((s) => [s.name, s.port, s.user])).toEqual([['tb1', 22, 'root'], ['tb2', 2222, 'root']]);
  });

  it('names the line of each table and key, counting array tables', () => {
    const lines = fieldLines(good);
    expect(lines.get('group.name')).toBe(5);
    expect(lines.get('group.servers[0].host')).toBe(9);
    expect(lines.get('group.servers[1].port')).toBe(15);
  });

  it('points at the line of a wrong field, an unknown field and a bad fingerprint', () => {
    const text = good.replace('port = 2222', 'port = "ssh"').replace('memory_mb = 512', 'memory = 512').replace(`host = "10.0.0.3"\nport`, `host = "10.0.0.3"\nport`).replace(/host_key = "SHA256:A+"\n$/, 'host_key = "MD5:ab:cd"\n');
    const { message, issues } = problems(text);
    expect(issues).toEqual(
      expect.arrayContaining([
        { line: 2, field: 'memory', message: 'unknown field "memory"' },
        { line: 15, field: 'group.servers[1].port', message: expect.stringContaining('expected number') },
        { line: 16, field: 'group.servers[1].host_key', message: expect.stringContaining('Not a host-key fingerprint') },
      ]),
    );
    expect(message).toContain('berth.toml:16: group.servers[1].host_key: Not a host-key fingerprint');
    expect(message).toContain('nothing was changed on any server');
  });

  it('says a missing group is missing, and a syntax error where it is', () => {
    expect(problems('model = "iris"\n').message).toContain('berth.toml: group: is missing');
    const syntax = problems('model = "iris"\n[group\nname = "x"\n');
    expect(syntax.issues[0]).toMatchObject({ line: 2, field: '(syntax)' });
  });

  it('reads GPUs per replica as a count or as GPU indexes', () => {
    expect(parseProjectFile(`gpus = 1\n${good}`).gpus).toBe(1);
    expect(parseProjectFile(`gpus = ["0", "1"]\n${good}`).gpus).toEqual(['0', '1']);
    expect(parseProjectFile(`gpus = 0\n${good}`).gpus).toBe(0);
    const file = parseProjectFile(`gpus = ["1"]\n${good}`);
    expect(parseProjectFile(renderProjectFile(file))).toEqual(file);
  });

  it('refuses GPUs of another shape, saying what it takes', () => {
    expect(problems(`gpus = [0, 1]\n${good}`).message).toContain('berth.toml:1: gpus: GPUs per replica are a count (gpus = 1) or GPU indexes in quotes (gpus = ["0", "1"])');
    expect(problems(`gpus = -1\n${good}`).message).toContain('berth.toml:1: gpus: Ask for at least 1 GPU per replica, or none at all');
    expect(problems(`gpus = ["0", "0"]\n${good}`).message).toContain('berth.toml:1: gpus: A GPU is named twice');
  });

  it('writes a file it reads back the same', () => {
    const file = parseProjectFile(good);
    expect(parseProjectFile(renderProjectFile(file))).toEqual(file);
  });

  it('reads a group that is this computer, and refuses one that is both or neither', () => {
    const local = parseProjectFile('model = "iris"\n\n[group]\nname = "local"\nthis_computer = true\n');
    expect(local.group).toEqual({ name: 'local', this_computer: true });
    expect(parseProjectFile(renderProjectFile(local))).toEqual(local);
    const both = good.replace('name = "prod"', 'name = "local"\nthis_computer = true');
    expect(problems(both).message).toMatch(/this computer \(this_computer = true\) or has servers/);
    expect(problems('model = "iris"\n\n[group]\nname = "prod"\n').message).toMatch(/give exactly one of them/);
    expect(problems('model = "iris"\n\n[group]\nname = "prod"\nthis_computer = true\n').message).toMatch(/named "local"/);
  });
});
