/**
 * The sample-input cell may call the function to serve (issue 16, item 5): `result = score_batch(df)` names the
 * entrypoint and the sample, and a bare call `predict({"x": 1})` is a sample. Runs the real helper
 * (resources/python/berth_project.py) under the system's Python; the notebooks use the standard library only.
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { createProjectService } from '../../../electron/main/services/project';

const PYTHON = '/usr/bin/python3';
let dir: string;
beforeEach(() => {
  dir = mkdtempSync(path.join(os.tmpdir(), 'berth-sample-call-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const cell = (source: string, tags: string[] = [], outputs: unknown[] = []) => ({ cell_type: 'code', metadata: { tags }, source, outputs, execution_count: 1 });
const shownResult = (text: string) => ({ output_type: 'execute_result', execution_count: 1, metadata: {}, data: { 'text/plain': [text] } });

async function analyse(cells: unknown[], entrypoint?: string) {
  writeFileSync(path.join(dir, 'model.ipynb'), JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: {}, cells }));
  return createProjectService().analyze(dir, { interpreter: PYTHON, entrypoint });
}

const scoring = cell(
  [
    'def helper(rows):',
    '    return [r["a"] for r in rows]',
    'def predict(rows):',
    '    return ["predict"] * len(rows)',
    'def score_batch(rows):',
    '    if isinstance(rows, dict):',
    '        return {"n": len(rows)}',
    '    return [sum(r.values()) for r in rows]',
  ].join('\n'),
);

describe('the sample-input cell calls the entrypoint', () => {
  it('infers the entrypoint and the sample from `result = score_batch(df)`, over the preferred names', async () => {
    const sampleCell = cell(
      // the lines after the call use its answer: the sample stage must stop before the call
      ['df = [{"a": 1, "b": 2}, {"a": 3, "b": 4}]', 'result = score_batch(df)', 'result.not_an_attribute'].join('\n'),
      ['sample-input'],
    );
    const a = await analyse([scoring, sampleCell, cell('print(len(df))')]);
    expect(a.findings.filter((f) => f.severity === 'error')).toEqual([]);
    expect(a.entrypoint).toBe('score_batch');
    expect(a.sample).toMatchObject({ cell: 1, variable: 'df', input: [{ a: 1, b: 2 }, { a: 3, b: 4 }], expectedOutput: [3, 7] });
    // the cell that shows the sample is not served
    expect(a.module.excludedCells).toContainEqual({ cell: 2, reason: 'uses-sample' });
  });

  it('accepts a bare call as the sample and compares its shown answer', async () => {
    const a = await analyse([scoring, cell('predict([{"x": 1},\n         {"x": 2}])', ['sample-input'], [shownResult("['predict', 'predict']")])]);
    expect(a.findings.filter((f) => f.severity !== 'info')).toEqual([]);
    expect(a.entrypoint).toBe('predict');
    expect(a.sample).toMatchObject({
      variable: 'sample_input',
      input: [{ x: 1 }, { x: 2 }],
      expectedOutput: ['predict', 'predict'],
      storedOutputText: "['predict', 'predict']",
    });
  });

  it('warns when the bare call showed another answer than the model gives now', async () => {
    const a = await analyse([scoring, cell('score_batch([{"x": 1}])', ['sample-input'], [shownResult('[5]')])]);
    expect(a.entrypoint).toBe('score_batch');
    expect(a.findings.map((f) => f.code)).toContain('sample-output-differs');
  });

  it('keeps the chosen entrypoint: the sample is what the cell passes to it', async () => {
    const a = await analyse([scoring, cell('rows = [{"a": 5}]\nhelper(rows)\nscore_batch([{"a": 1}])', ['sample-input'])], 'helper');
    expect(a.entrypoint).toBe('helper');
    expect(a.sample).toMatchObject({ variable: 'rows', input: [{ a: 5 }], expectedOutput: [5] });
  });

  it('still reads a sample cell that only assigns, and explains one that neither assigns nor calls', async () => {
    const assigned = await analyse([scoring, cell('sample_input = [{"a": 2}]', ['sample-input'])]);
    expect(assigned.entrypoint).toBe('predict');
    expect(assigned.sample).toMatchObject({ variable: 'sample_input', input: [{ a: 2 }], expectedOutput: ['predict'] });

    const neither = await analyse([scoring, cell('print("hello")', ['sample-input'])]);
    const failed = neither.findings.find((f) => f.code === 'sample-failed')!;
    expect(failed.message).toMatch(/assigns no variable and calls no served function.*`predict\(\[\[5\.1/);
  });
});
