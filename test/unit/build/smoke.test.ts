import http from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { compareJson, demuxLogs, smokeTest, NO_SAMPLE_REASON } from '../../../electron/main/services/build/smoke';
import { versionId } from '../../../electron/main/services/build/service';
import type Docker from 'dockerode';
import type { SampleIO } from '../../../shared/project';

describe('comparing the served answer with the notebook', () => {
  it('accepts equal values and numbers within 1e-6 relative', () => {
    expect(compareJson([0, 1, 2], [0, 1, 2])).toEqual([]);
    expect(compareJson([0.123456789], [0.1234568])).toEqual([]);
    expect(compareJson({ p: [1e9] }, { p: [1e9 + 100] })).toEqual([]);
    expect(compareJson([0], [0.0])).toEqual([]);
    expect(compareJson(['churn', 'stay'], ['churn', 'stay'])).toEqual([]);
  });

  it('reports where the answers differ', () => {
    expect(compareJson([0.5], [0.5001])).toEqual([{ path: '$[0]', expected: 0.5, actual: 0.5001, reason: 'numbers differ' }]);
    expect(compareJson(['churn', 'stay'], ['churn', 'churn'])).toEqual([{ path: '$[1]', expected: 'stay', actual: 'churn', reason: 'values differ' }]);
    expect(compareJson([0], { rows: 1 })).toEqual([{ path: '$', expected: [0], actual: { rows: 1 }, reason: 'expected array, got object' }]);
    expect(compareJson([1, 2], [1])).toEqual([{ path: '$', reason: 'expected 2 items, got 1' }]);
    expect(compareJson({ a: 1, 'b c': 2 }, { a: 1, d: 3 })).toEqual([
      { path: '$["b c"]', expected: 2, reason: 'missing in the answer' },
      { path: '$.d', actual: 3, reason: "not in the notebook's answer" },
    ]);
    expect(compareJson([null], [0])).toEqual([{ path: '$[0]', expected: null, actual: 0, reason: 'expected null, got number' }]);
  });

  it('stops after 20 differences', () => {
    const n = 100;
    expect(compareJson(Array.from({ length: n }, () => 0), Array.from({ length: n }, () => 1))).toHaveLength(20);
  });
});

describe('container logs', () => {
  it('splits Docker multiplexed frames into text', () => {
    const frame = (stream: number, text: string) => {
      const body = Buffer.from(text);
      const head = Buffer.alloc(8);
      head[0] = stream;
      head.writeUInt32BE(body.length, 4);
      return Buffer.concat([head, body]);
    };
    expect(demuxLogs(Buffer.concat([frame(1, '{"event":"loading"}\n'), frame(2, 'Traceback\n')]))).toBe('{"event":"loading"}\nTraceback\n');
    expect(demuxLogs(Buffer.from('plain tty text\n'))).toBe('plain tty text\n');
  });
});

describe('smoke test without a sample', () => {
  it('is skipped with advice, without starting anything', async () => {
    const docker = new Proxy({}, { get: () => () => Promise.reject(new Error('must not be called')) }) as unknown as Docker;
    const result = await smokeTest({ docker, image: 'x', project: 'iris', sample: null });
    expect(result).toEqual({ status: 'skipped', reason: NO_SAMPLE_REASON });
    expect(NO_SAMPLE_REASON).toContain('sample-input');
  });
});

/** A Docker stand-in whose one container is `server`, published on its port. */
function fakeDocker(server: http.Server): Docker {
  const port = String((server.address() as AddressInfo).port);
  const container = {
    start: async () => undefined,
    inspect: async () => ({ State: { Running: true, ExitCode: 0 }, NetworkSettings: { Ports: { '8080/tcp': [{ HostIp: '127.0.0.1', HostPort: port }] } } }),
    logs: async () => Buffer.alloc(0),
    remove: async () => undefined,
  };
  return { createContainer: async () => container } as unknown as Docker;
}

describe('smoke test probes', () => {
  it("counts a connection the port proxy drops as not ready yet, at once (fetch never settled on it)", async () => {
    // Docker's port proxy accepts, then drops the connection while the model does not listen yet.
    let dropped = 0;
    const server = http.createServer((req, res) => {
      res.setHeader('content-type', 'application/json');
      if (req.url === '/readyz') return res.end(JSON.stringify({ status: 'ready' }));
      let body = '';
      req.on('data', (chunk) => (body += chunk));
      req.on('end', () => res.end(JSON.stringify({ predictions: JSON.parse(body).inputs.map(() => 0) })));
    });
    server.on('connection', (socket) => dropped < 3 && (dropped++, socket.destroy()));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const sample: SampleIO = { cell: 0, variable: 'sample_input', input: [[5.1, 3.5, 1.4, 0.2]], expectedOutput: [0], outputText: '[0]', storedOutputText: null };
      const result = await smokeTest({ docker: fakeDocker(server), image: 'x', project: 'iris', sample, readyTimeoutMs: 10_000 });
      expect(dropped).toBe(3);
      expect(result).toMatchObject({ status: 'passed', output: [0] });
      expect((result as { readyMs: number }).readyMs).toBeLessThan(1500); // three 250 ms polls, not three 2 s timeouts
    } finally {
      server.close();
    }
  });
});

describe('version ids', () => {
  it('are b<date>-<time>-<8 hex of the context hash>, in UTC', () => {
    expect(versionId(new Date(Date.UTC(2026, 0, 5, 7, 8, 9)), 'abcdef0123456789')).toBe('b20260105-070809-abcdef01');
  });
});
