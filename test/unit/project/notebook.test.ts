import { describe, expect, it } from 'vitest';
import { BerthError } from '../../../shared/errors';
import { jsonErrorPosition, parseNotebook } from '../../../electron/main/services/project/notebook';

const nb = (cells: unknown[], extra: Record<string, unknown> = {}) =>
  JSON.stringify({ nbformat: 4, nbformat_minor: 5, metadata: { kernelspec: { name: 'py311', display_name: 'Python 3.11', language: 'python' }, language_info: { name: 'python', version: '3.11.2' } }, cells, ...extra });

describe('parseNotebook', () => {
  it('reads cells, tags, sources given as lists or strings, and stored output text', () => {
    const parsed = parseNotebook(
      nb([
        { cell_type: 'markdown', metadata: {}, source: ['# Title\n', 'text'] },
        { cell_type: 'code', metadata: { tags: ['training', 7] }, source: 'x = 1\ny = 2', execution_count: 3, outputs: [] },
        {
          cell_type: 'code',
          metadata: {},
          source: ['print(1)'],
          execution_count: null,
          outputs: [
            { output_type: 'stream', name: 'stdout', text: ['1\n'] },
            { output_type: 'stream', name: 'stderr', text: ['warning\n'] },
            { output_type: 'execute_result', data: { 'text/plain': ['array([0])'] } },
          ],
        },
      ]),
      'model.ipynb',
    );
    expect(parsed.cells.map((c) => c.cellType)).toEqual(['markdown', 'code', 'code']);
    expect(parsed.cells[0].source).toBe('# Title\ntext');
    expect(parsed.cells[1].tags).toEqual(['training']);
    expect(parsed.cells[1].executionCount).toBe(3);
    expect(parsed.cells[2].outputText).toBe('1\narray([0])');
    expect(parsed.kernelspec).toEqual({ name: 'py311', displayName: 'Python 3.11', language: 'python' });
    expect(parsed.languageInfo).toEqual({ name: 'python', version: '3.11.2' });
  });

  it('accepts a byte-order mark', () => {
    expect(parseNotebook('\ufeff' + nb([]), 'a.ipynb').cells).toEqual([]);
  });

  it('rejects invalid JSON as ProjectInvalid with the line and column of the error', () => {
    const text = '{\n "nbformat": 4,\n "cells": [\n  {"cell_type": "code",\n ]\n}\n';
    let err: unknown;
    try {
      parseNotebook(text, 'broken.ipynb');
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(BerthError);
    const e = err as BerthError;
    expect(e.kind).toBe('ProjectInvalid');
    expect(e.message).toMatch(/^broken\.ipynb is not valid JSON \(line 5, column 2: .*\)\. .*open it in Jupyter and save it again/);
    expect(e.detail).toMatchObject({ code: 'invalid-notebook', file: 'broken.ipynb', line: 5, column: 2 });
  });

  it('rejects a truncated file with the position at its end', () => {
    expect(() => parseNotebook('{"nbformat": 4, "cells": [', 'half.ipynb')).toThrow(/half\.ipynb is not valid JSON \(line 1, column 27/);
  });

  it('rejects old nbformat versions and JSON that is not a notebook', () => {
    expect(() => parseNotebook(JSON.stringify({ nbformat: 3, worksheets: [] }), 'old.ipynb')).toThrow(/nbformat 3; Berth reads nbformat 4.*save it to upgrade/);
    expect(() => parseNotebook('[]', 'list.ipynb')).toThrow(/not a notebook object/);
    expect(() => parseNotebook(JSON.stringify({ nbformat: 4 }), 'x.ipynb')).toThrow(/no "cells" list/);
  });
});

describe('jsonErrorPosition', () => {
  it('understands both V8 message styles', () => {
    const text = 'ab\ncdef';
    expect(jsonErrorPosition(text, 'Unexpected token in JSON at position 5')).toEqual({ offset: 5, line: 2, column: 3 });
    expect(jsonErrorPosition(text, 'Bad thing (line 2 column 3)')).toEqual({ offset: 5, line: 2, column: 3 });
    const truncated = '{"a":\n [1';
    expect(jsonErrorPosition(truncated, 'Unexpected end of JSON input')).toEqual({ offset: 9, line: 2, column: 4 });
  });
});

describe('jsonErrorOffset', () => {
  it('finds the first syntax error where V8 does not say', async () => {
    const { jsonErrorOffset } = await import('../../../electron/main/services/project/notebook');
    const cases: [string, number][] = [
      ['{"a": [1, 2,]}', 12],
      ['{"a" 1}', 5],
      ['{"a": tru}', 9],
      ['[1, 2', 5],
      ['{"a": "x\\q"}', 9],
      ['{"a": 1} x', 9],
      ['{"cells": [{"s": "ok"}, }', 24],
    ];
    for (const [text, at] of cases) {
      expect(jsonErrorOffset(text), text).toBe(at);
      expect(() => JSON.parse(text)).toThrow();
    }
    const valid = '{"a": [1, -2.5e3, true, null, "\\u00e9"]}';
    expect(JSON.parse(valid).a).toHaveLength(5);
    expect(jsonErrorOffset(valid)).toBe(valid.length);
  });
});
