import { createServer } from 'node:http';
import type { AddressInfo } from 'node:net';
import { describe, expect, it } from 'vitest';
import { remoteGet } from '../../../electron/main/services/deploy/remote-http';
import {
  removeContainers,
  startContainers,
  startReplicas,
  stopContainers,
  waitReady,
  type ReplicaSpec,
} from '../../../electron/main/services/deploy/replicas';
import { imagesOn } from '../../../electron/main/services/deploy/views';
import { invocations, RecordingShell, runLocally } from '../support/recording-shell';

const spec: ReplicaSpec = { model: 'iris', version: 3, imageRef: 'berth/iris:v3', operationId: 42, memoryMb: 512, cpus: 1.5 };

const LIST_PORTS = `docker ps -a --filter label=berth.port --format '{{.Label "berth.port"}}'`;

const removeLeftover = (index: number) => `docker rm -f berth-iris-v3-r${index} >/dev/null 2>&1`;

const runReplica = (index: number, port: number, image = 'berth/iris:v3') =>
  `docker run -d --name berth-iris-v3-r${index} --network host --restart unless-stopped --memory 512m --memory-swap 512m --cpus 1.5 ` +
  '--log-driver json-file --log-opt max-size=20m --log-opt max-file=5 ' +
  `--label berth.model=iris --label berth.version=3 --label berth.replica=${index} --label berth.port=${port} --label berth.operation=42 ` +
  `-e PORT=${port} -e BERTH_HOST=127.0.0.1 -e BERTH_MODEL_NAME=iris -e BERTH_MODEL_VERSION=3 ${image}`;

const inspectReplica = (name: string) => `docker inspect --format '{{.State.Status}} {{.RestartCount}}' ${name} 2>/dev/null || echo missing 0`;

const httpGet = (port: number, path: string) =>
  `timeout 2 bash -c 'exec 3<>"/dev/tcp/127.0.0.1/$1" && printf "GET %s HTTP/1.0\\r\\nHost: 127.0.0.1\\r\\n\\r\\n" "$2" >&3 && cat <&3' remote-get ${port} ${path} 2>/dev/null`;

describe('startReplicas', () => {
  it('lists the ports in use, then runs each replica on the next free one', async () => {
    const shell = new RecordingShell([['docker ps', { stdout: '9100\n9102\n' }]]);
    const replicas = await startReplicas(shell.connection, spec, 2);
    expect(replicas).toEqual([
      { name: 'berth-iris-v3-r1', port: 9101 },
      { name: 'berth-iris-v3-r2', port: 9103 },
    ]);
    expect(shell.recorded).toEqual([
      { command: LIST_PORTS, timeoutMs: 15_000 },
      { command: removeLeftover(1), timeoutMs: 60_000 },
      { command: runReplica(1, 9101), timeoutMs: 60_000 },
      { command: removeLeftover(2), timeoutMs: 60_000 },
      { command: runReplica(2, 9103), timeoutMs: 60_000 },
    ]);
  });

  it('names the berth-shell verb of each command, with the same words as docker run', async () => {
    const shell = new RecordingShell();
    await startReplicas(shell.connection, spec, 1);
    expect(shell.verbs).toEqual([
      ['ports'],
      ['rm', 'berth-iris-v3-r1'],
      invocations(runReplica(1, 9100), ['docker'])[0].slice(1),
    ]);
  });

  it('numbers replicas from firstIndex', async () => {
    const shell = new RecordingShell();
    await startReplicas(shell.connection, spec, 1, 4);
    expect(shell.commands[2]).toBe(runReplica(4, 9100));
  });

  it('passes a hostile image reference as one quoted word', async () => {
    const shell = new RecordingShell();
    const image = `evil image'; echo injected`;
    await startReplicas(shell.connection, { ...spec, imageRef: image }, 1);
    expect(shell.commands[2]).toBe(runReplica(1, 9100, `'evil image'\\''; echo injected'`));
    const [run] = invocations(shell.commands[2], ['docker']);
    expect(run.at(-1)).toBe(image);
  });
});

describe('waitReady', () => {
  const replica = { name: 'berth-iris-v3-r1', port: 9101 };

  it('inspects the container, then probes /readyz over the server loopback', async () => {
    const shell = new RecordingShell([
      ['docker inspect', { stdout: 'running 0\n' }],
      ['/dev/tcp', { stdout: 'HTTP/1.0 200 OK\r\n\r\nready' }],
    ]);
    await waitReady(shell.connection, [replica], { timeoutMs: 5_000, intervalMs: 1 });
    expect(shell.recorded).toEqual([
      { command: inspectReplica('berth-iris-v3-r1'), timeoutMs: 10_000 },
      { command: httpGet(9101, '/readyz'), timeoutMs: 10_000 },
    ]);
  });

  it('fails with the log tail of a replica that stopped', async () => {
    const shell = new RecordingShell([
      ['docker inspect', { stdout: 'exited 0\n' }],
      ['docker logs', { stdout: 'Traceback: boom\n' }],
    ]);
    const error = await waitReady(shell.connection, [replica], { timeoutMs: 5_000 }).catch((e) => e);
    expect(error).toMatchObject({ kind: 'SmokeTestFailed', detail: { logs: 'Traceback: boom\n' } });
    expect(shell.recorded[1]).toEqual({ command: 'docker logs --tail 40 berth-iris-v3-r1 2>&1', timeoutMs: 10_000 });
  });

  it('quotes a hostile container name in inspect and logs', async () => {
    const shell = new RecordingShell([['docker inspect', { stdout: 'exited 0' }]]);
    const name = `r1 $(echo injected)`;
    await waitReady(shell.connection, [{ name, port: 9101 }], { timeoutMs: 5_000 }).catch(() => undefined);
    expect(shell.commands).toEqual([inspectReplica(`'r1 $(echo injected)'`), `docker logs --tail 40 'r1 $(echo injected)' 2>&1`]);
    expect(invocations(shell.commands[1], ['docker'])).toEqual([['docker', 'logs', '--tail', '40', name]]);
  });
});

describe('removeContainers, stopContainers, startContainers', () => {
  it('pin their docker commands', async () => {
    const shell = new RecordingShell();
    const names = ['berth-iris-v3-r1', 'berth-iris-v3-r2'];
    await removeContainers(shell.connection, names);
    await stopContainers(shell.connection, names);
    await startContainers(shell.connection, names);
    expect(shell.recorded).toEqual([
      { command: 'docker rm -f berth-iris-v3-r1 berth-iris-v3-r2 >/dev/null 2>&1 || true', timeoutMs: 60_000 },
      { command: 'docker stop -t 10 berth-iris-v3-r1 berth-iris-v3-r2 >/dev/null', timeoutMs: 60_000 },
      { command: 'docker start berth-iris-v3-r1 berth-iris-v3-r2 >/dev/null', timeoutMs: 60_000 },
    ]);
  });

  it('send nothing for no names', async () => {
    const shell = new RecordingShell();
    await removeContainers(shell.connection, []);
    await stopContainers(shell.connection, []);
    await startContainers(shell.connection, []);
    expect(shell.commands).toEqual([]);
  });

  it('quote hostile names', async () => {
    const shell = new RecordingShell();
    await stopContainers(shell.connection, ['a b', "c'd"]);
    expect(shell.commands).toEqual([`docker stop -t 10 'a b' 'c'\\''d' >/dev/null`]);
  });
});

describe('remoteGet', () => {
  it('pins the /dev/tcp request with its timeouts', async () => {
    const shell = new RecordingShell([['/dev/tcp', { stdout: 'HTTP/1.1 503 Service Unavailable\r\nX: y\r\n\r\nloading' }]]);
    expect(await remoteGet(shell.connection, 8700, '/_berth/health', 5)).toEqual({ status: 503, body: 'loading' });
    expect(shell.recorded).toEqual([{ command: httpGet(8700, '/_berth/health').replace('timeout 2', 'timeout 5'), timeoutMs: 13_000 }]);
  });

  it('sends a hostile path as data of the request, not as script or printf format', async () => {
    const shell = new RecordingShell();
    await remoteGet(shell.connection, 9101, `/x" $(echo injected) %s`);
    expect(shell.commands[0]).toBe(httpGet(9101, `'/x" $(echo injected) %s'`));
  });

  it('really asks a local server', async () => {
    const seen: string[] = [];
    const server = createServer((req, res) => (seen.push(`${req.method} ${req.url} ${req.headers.host}`), res.end('pong')));
    await new Promise<void>((resolve) => server.listen(0, '127.0.0.1', resolve));
    try {
      const port = (server.address() as AddressInfo).port;
      const shell = new RecordingShell([[() => true, (command) => runLocally(command)]]);
      expect(await remoteGet(shell.connection, port, '/readyz?a=%20b')).toEqual({ status: 200, body: 'pong' });
      expect(seen).toEqual(['GET /readyz?a=%20b 127.0.0.1']);
    } finally {
      server.close();
    }
  });

  it('answers status 0 when nothing listens', async () => {
    const shell = new RecordingShell([[() => true, (command) => runLocally(command)]]);
    expect(await remoteGet(shell.connection, 1, '/readyz')).toEqual({ status: 0, body: '' });
  });
});

describe('imagesOn', () => {
  it('lists repository:tag of every image', async () => {
    const lines = [{ Repository: 'berth/iris', Tag: 'v3', ID: 'sha256:1' }, { Repository: 'berth/gateway', Tag: '1', ID: 'sha256:2' }];
    const shell = new RecordingShell([['docker image ls', { stdout: lines.map((l) => JSON.stringify(l)).join('\n') + '\n' }]]);
    expect(await imagesOn(shell.connection)).toEqual(new Set(['berth/iris:v3', 'berth/gateway:1']));
    // The format of berth-shell's `images`, so a member's key reads the same.
    expect(shell.recorded).toEqual([{ command: `docker image ls --no-trunc --filter 'reference=berth/*' --format '{{json .}}'`, timeoutMs: 10_000 }]);
    expect(shell.verbs).toEqual([['images']]);
  });
});
