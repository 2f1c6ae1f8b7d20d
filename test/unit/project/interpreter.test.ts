import path from 'node:path';
import { describe, expect, it } from 'vitest';
import { BerthError } from '../../../shared/errors';
import { findInterpreter, type InterpreterLookup } from '../../../electron/main/services/project/interpreter';

function fakeLookup(files: Record<string, string>, env: Record<string, string> = {}): InterpreterLookup {
  return {
    homeDir: '/home/ada',
    env: { PATH: '/usr/local/bin:/usr/bin', ...env },
    platform: 'linux',
    exists: async (p) => p in files,
    readFile: async (p) => files[p] ?? null,
  };
}
const input = { root: '/p', notebookDir: '/p/notebooks' };

describe('findInterpreter', () => {
  it('prefers the user override, resolving relative paths against the project and bare names on PATH', async () => {
    const look = fakeLookup({ '/p/.venv/bin/python': '', '/usr/bin/python3.12': '' });
    expect(await findInterpreter({ ...input, override: '/opt/py/bin/python' }, look)).toEqual({ path: '/opt/py/bin/python', source: 'override' });
    expect(await findInterpreter({ ...input, override: 'env/bin/python' }, look)).toEqual({ path: path.resolve('/p', 'env/bin/python'), source: 'override' });
    expect(await findInterpreter({ ...input, override: 'python3.12' }, look)).toEqual({ path: '/usr/bin/python3.12', source: 'override' });
    await expect(findInterpreter({ ...input, override: 'python9' }, look)).rejects.toThrow(/"python9" was not found on PATH/);
  });

  it('finds .venv or venv in the project, then next to the notebook', async () => {
    expect(await findInterpreter(input, fakeLookup({ '/p/venv/bin/python': '', '/usr/bin/python3': '' }))).toEqual({ path: '/p/venv/bin/python', source: 'venv' });
    expect(await findInterpreter(input, fakeLookup({ '/p/notebooks/.venv/bin/python': '' }))).toEqual({ path: '/p/notebooks/.venv/bin/python', source: 'venv' });
  });

  it('finds the conda environment named in environment.yml under the usual roots', async () => {
    const look = fakeLookup({ '/home/ada/miniforge3/envs/iris/bin/python': '', '/usr/bin/python3': '' });
    expect(await findInterpreter({ ...input, condaEnvName: 'iris' }, look)).toEqual({ path: '/home/ada/miniforge3/envs/iris/bin/python', source: 'conda' });
    const viaPrefix = fakeLookup({ '/srv/conda/envs/iris/bin/python': '' }, { CONDA_PREFIX: '/srv/conda/envs/other' });
    expect(await findInterpreter({ ...input, condaEnvName: 'iris' }, viaPrefix)).toEqual({ path: '/srv/conda/envs/iris/bin/python', source: 'conda' });
  });

  it("uses the notebook kernelspec's interpreter when it is an existing absolute path", async () => {
    const look = fakeLookup({
      '/home/ada/.local/share/jupyter/kernels/iris/kernel.json': JSON.stringify({ argv: ['/home/ada/envs/iris/bin/python', '-m', 'ipykernel_launcher'] }),
      '/home/ada/envs/iris/bin/python': '',
      '/usr/bin/python3': '',
    });
    expect(await findInterpreter({ ...input, kernelName: 'iris' }, look)).toEqual({ path: '/home/ada/envs/iris/bin/python', source: 'kernelspec' });
    const bare = fakeLookup({
      '/usr/share/jupyter/kernels/python3/kernel.json': JSON.stringify({ argv: ['python', '-m', 'ipykernel_launcher'] }),
      '/usr/bin/python3': '',
    });
    expect(await findInterpreter({ ...input, kernelName: 'python3' }, bare)).toEqual({ path: '/usr/bin/python3', source: 'path' });
  });

  it('falls back to python3 on PATH, and explains when there is none', async () => {
    expect(await findInterpreter(input, fakeLookup({ '/usr/local/bin/python3': '', '/usr/bin/python3': '' }))).toEqual({ path: '/usr/local/bin/python3', source: 'path' });
    const err = await findInterpreter(input, fakeLookup({})).catch((e) => e);
    expect(err).toBeInstanceOf(BerthError);
    expect(err.kind).toBe('NotFound');
    expect(err.message).toMatch(/No Python interpreter was found for this project.*Choose the interpreter you run the notebook with/);
  });
});
