import { describe, expect, it } from 'vitest';
import { applyRequirementChoices, importsCoveredBy } from '../../../electron/main/services/build/choices';
import type { ProjectAnalysis } from '../../../shared/project';

const analysis = (findings: ProjectAnalysis['findings']) => ({ findings }) as unknown as ProjectAnalysis;

describe('requirement choices answer unresolved imports', () => {
  it('reads marked lines and plain pinned names', () => {
    expect([...importsCoveredBy('lightgbm==4.0.0  # for import lightgbm (chosen in Berth)\nscikit_learn==1.2.1\n# x==1\n')]).toEqual([
      'lightgbm',
      'scikit-learn',
    ]);
  });

  it('downgrades only the import findings the edit covers', () => {
    const result = applyRequirementChoices(
      analysis([
        { code: 'import-not-installed', severity: 'error', subject: 'lightgbm', message: 'lightgbm is not installed.' },
        { code: 'import-ambiguous', severity: 'error', subject: 'yaml', message: 'yaml is ambiguous.' },
        { code: 'lfs-pointer', severity: 'error', subject: 'lightgbm', message: 'pointer' },
      ]),
      'lightgbm==4.0.0  # for import lightgbm (chosen in Berth)\n',
    );
    expect(result.findings.map((f) => f.severity)).toEqual(['warning', 'error', 'error']);
    expect(result.findings[0].message).toMatch(/Answered by your requirements.txt edit/);
  });

  it("on a runner without the notebook's packages, the reviewed pins answer imports by distribution name and the served code's missing module", () => {
    const result = applyRequirementChoices(
      analysis([
        { code: 'import-not-installed', severity: 'error', subject: 'sklearn', message: 'sklearn is not installed.' },
        { code: 'sample-failed', severity: 'error', subject: 'module', message: "Loading the served module failed: ModuleNotFoundError: No module named 'joblib'." },
        { code: 'sample-failed', severity: 'error', subject: 'module', message: "Loading the served module failed: ModuleNotFoundError: No module named 'torch'." },
        { code: 'sample-failed', severity: 'error', subject: 'entrypoint', message: "predict(x) failed: No module named 'joblib'." },
      ]),
      'joblib==1.2.0\nscikit-learn==1.2.1\n',
      'the reviewed .berth/requirements.txt',
    );
    expect(result.findings.map((f) => f.severity)).toEqual(['warning', 'warning', 'error', 'error']);
    expect(result.findings[1].message).toContain("This machine's Python lacks joblib, which the reviewed .berth/requirements.txt pins");
  });

  it('leaves the analysis alone without an edit', () => {
    const a = analysis([{ code: 'import-not-installed', severity: 'error', subject: 'x', message: 'm' }]);
    expect(applyRequirementChoices(a, null)).toBe(a);
  });
});
