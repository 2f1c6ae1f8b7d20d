/**
 * The endpoint snippets run as pasted (issue 16, item 5): filled with the notebook's sample input and sending
 * `Content-Type: application/json`. Each snippet is run against a local server that records what it received.
 */
import { execFile, spawnSync } from 'node:child_process';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import type { BuildRecord } from '../../../shared/build';
import type { ModelView, VersionView } from '../../../shared/deploy';
import { curlSnippet, pythonLiteral, pythonSnippet, sampleFor } from '../../../renderer/src/features/deployments/snippets';

// a quote, a boolean and a null: what naive quoting or a JSON-as-Python paste gets wrong
const SAMPLE = [{ petal: 1.4, note: "it's fine", ok: true, missing: null }];

const version = (number: number, imageId: string, aliases: string[] = []): VersionView => ({
  id: number, number, imageRef: `berth/iris:v${number}`, imageId, notebookHash: null, dockerfile: null, requirements: null,
  createdBy: 'me', createdAt: '2030-01-01T00:00:00Z', message: null, state: 'live', aliases, servers: [], imageMissingOn: [],
});
const model = (baseUrl: string, isPublic = false): ModelView => ({
  name: 'iris', public: isPublic, keepVersions: 3, groups: ['prod'], operations: [], tls: null,
  versions: [version(2, 'sha256:two', ['latest']), version(1, 'sha256:one')],
  endpoints: [{ server: 'a', baseUrl }],
});
const build = (id: number, imageId: string, input: unknown, project = 'iris'): BuildRecord => ({
  id, projectPath: '/p', project, imageTag: `berth/${project}:build-${id}`, imageId, notebookHash: 'h', contextHash: null, dockerfile: '', requirements: '',
  status: 'succeeded', smoke: { status: 'passed', readyMs: 1, durationMs: 1, input: input as never, output: [0] }, deployable: true,
  sizeBytes: 1, durationMs: 1, platform: 'linux/amd64', error: null, createdAt: '2030-01-01T00:00:00Z',
});

interface Received { path: string; contentType: string | undefined; authorization: string | undefined; body: unknown }
let server: http.Server;
let received: Received[] = [];
let base = '';
beforeAll(async () => {
  server = http.createServer((req, res) => {
    let text = '';
    req.on('data', (c) => (text += c));
    req.on('end', () => {
      received.push({ path: req.url ?? '', contentType: req.headers['content-type'], authorization: req.headers.authorization, body: JSON.parse(text) });
      res.writeHead(200, { 'Content-Type': 'application/json' }).end(JSON.stringify({ predictions: ['setosa'] }));
    });
  });
  await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
  base = `http://127.0.0.1:${(server.address() as AddressInfo).port}/iris`;
});
afterAll(() => new Promise<void>((resolve) => server.close(() => resolve())));

const env = { ...process.env, BERTH_API_KEY: 'brt_test' };
// asynchronously: the server answering the snippet runs in this process
const run = async (file: string, args: string[]) => (await promisify(execFile)(file, args, { env, timeout: 20_000 })).stdout;
const hasRequests = spawnSync('python3', ['-c', 'import requests']).status === 0;

describe('endpoint snippets', () => {
  it("take the sample latest's build was smoke-tested with, else the model's newest passed build", () => {
    const m = model(base);
    expect(sampleFor(m, [build(9, 'sha256:other', 'newest'), build(8, 'sha256:two', SAMPLE)])).toEqual(SAMPLE);
    expect(sampleFor(m, [build(7, 'sha256:x', [1], 'other-model'), build(6, 'sha256:y', [2])])).toEqual([2]);
    expect(sampleFor(m, [])).toBeUndefined();
  });

  it('curl: the sample and the JSON content type, and it runs as pasted', async () => {
    received = [];
    const text = curlSnippet(model(base), SAMPLE);
    expect(text).toContain(`-H 'Content-Type: application/json'`);
    expect(text).toContain(`"note":"it'\\''s fine"`);
    const out = await run('sh', ['-c', text]);
    expect(JSON.parse(out)).toEqual({ predictions: ['setosa'] });
    expect(received).toEqual([{ path: '/iris/latest/predict', contentType: 'application/json', authorization: 'Bearer brt_test', body: { inputs: SAMPLE } }]);
  });

  it('python: the sample as a Python literal and the JSON content type', () => {
    const text = pythonSnippet(model(base), SAMPLE);
    expect(text).toContain('"Content-Type": "application/json"');
    expect(text).toContain(`print(predict(${pythonLiteral(SAMPLE)}))`);
    expect(pythonLiteral(SAMPLE)).toBe(`[{"petal": 1.4, "note": "it's fine", "ok": True, "missing": None}]`);
  });

  it.skipIf(!hasRequests)('python: runs as pasted (needs python3 with requests)', async () => {
    received = [];
    const out = await run('python3', ['-c', pythonSnippet(model(base), SAMPLE)]);
    expect(out.trim()).toBe("['setosa']");
    expect(received).toEqual([{ path: '/iris/latest/predict', contentType: 'application/json', authorization: 'Bearer brt_test', body: { inputs: SAMPLE } }]);
  });

  it('say where the input goes when no build knows the sample; a public model sends no key', () => {
    expect(curlSnippet(model(base, true), undefined)).not.toContain('Authorization');
    expect(curlSnippet(model(base, true), undefined)).toContain(`-d '{"inputs": <your input as JSON>}'`);
    expect(pythonSnippet(model(base, true), undefined)).toContain('HEADERS = {"Content-Type": "application/json"}');
    expect(pythonSnippet(model(base, true), undefined)).toContain('print(predict(your_input))');
  });
});
