import { mkdirSync, readFileSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { BenchContext } from './context';
import { run, type Row } from './lib';

/**
 * P3: requests through the gateway vs straight to the replica vs through nginx (Debian's, run as a plain reverse
 * proxy in the same server netns as the gateway, which runs with --network host), at fixed rates and at saturation,
 * for a trivial model and for the sklearn fixture. wrk runs inside the server's netns too, so all three paths are
 * loopback-only and share the same 2 cores.
 */

const NGINX_PORT = 8780;
const SECONDS = 10;

export interface WrkResult {
  requests: number;
  rps: number;
  p50Ms: number;
  p99Ms: number;
  errors: number;
  non2xx: number;
}

function wrkScript(dir: string, body: string, delayMs: number): string {
  const file = join(dir, `wrk-${delayMs}.lua`);
  writeFileSync(
    file,
    [
      'wrk.method = "POST"',
      `wrk.body = ${JSON.stringify(body)}`,
      'wrk.headers["Content-Type"] = "application/json"',
      // Paced connections: each waits delayMs between requests, so C connections offer about C*1000/delayMs rps.
      delayMs > 0 ? `function delay() return ${delayMs} end` : '',
      'done = function(summary, latency, requests)',
      '  local e = summary.errors',
      '  io.write(string.format("RESULT %d %d %d %d %d %d\\n", summary.requests, summary.duration, latency:percentile(50), latency:percentile(99), e.connect + e.read + e.write + e.timeout, e.status))',
      'end',
      '',
    ].join('\n'),
  );
  return file;
}

export async function wrk(ctx: BenchContext, url: string, options: { connections: number; seconds: number; delayMs: number; body: string; server?: number }): Promise<WrkResult> {
  const dir = join(process.env.TB ?? '/tmp', 'bench');
  mkdirSync(dir, { recursive: true });
  const script = wrkScript(dir, options.body, options.delayMs);
  const netns = `${ctx.bedName}${(options.server ?? 0) + 1}`;
  const threads = Math.min(2, options.connections);
  const out = await run(
    'bash',
    ['-c', `ulimit -n 65536; timeout ${options.seconds + 30} ip netns exec ${netns} wrk -t${threads} -c${options.connections} -d${options.seconds}s --timeout 5s -s ${script} ${url}`],
    { timeoutMs: (options.seconds + 60) * 1000 },
  );
  const m = /RESULT (\d+) (\d+) (\d+) (\d+) (\d+) (\d+)/.exec(out);
  if (!m) throw new Error(`wrk printed no result: ${out.slice(0, 500)}`);
  const [requests, durationUs, p50, p99, errors, non2xx] = m.slice(1).map(Number);
  return { requests, rps: requests / (durationUs / 1e6), p50Ms: p50 / 1000, p99Ms: p99 / 1000, errors, non2xx };
}

/** nginx as a plain reverse proxy to the given upstreams, inside server 1's netns; returns a stop function. */
async function startNginx(ctx: BenchContext, upstreams: Record<string, number>): Promise<() => Promise<void>> {
  const dir = join(process.env.TB ?? '/tmp', 'bench', 'nginx');
  mkdirSync(join(dir, 'tmp'), { recursive: true });
  const conf = join(dir, 'nginx.conf');
  writeFileSync(
    conf,
    `worker_processes 2;
pid ${dir}/nginx.pid;
error_log ${dir}/error.log warn;
events { worker_connections 8192; }
http {
  client_body_temp_path ${dir}/tmp/body;
  proxy_temp_path ${dir}/tmp/proxy;
  fastcgi_temp_path ${dir}/tmp/fastcgi;
  client_max_body_size 10m;
  # like the gateway: one buffered log line per request
  access_log ${dir}/access.log combined buffer=64k flush=200ms;
${Object.entries(upstreams)
  .map(([name, port]) => `  upstream ${name} { server 127.0.0.1:${port}; keepalive 64; }`)
  .join('\n')}
  server {
    listen 127.0.0.1:${NGINX_PORT};
${Object.keys(upstreams)
  .map((name) => `    location /${name}/ { proxy_pass http://${name}/; proxy_http_version 1.1; proxy_set_header Connection ""; }`)
  .join('\n')}
  }
}
`,
  );
  const netns = `${ctx.bedName}1`;
  await run('ip', ['netns', 'exec', netns, 'nginx', '-t', '-c', conf], { timeoutMs: 10_000 });
  await run('ip', ['netns', 'exec', netns, 'nginx', '-c', conf], { timeoutMs: 10_000 });
  const stop = async () => {
    const pid = Number(readFileSync(join(dir, 'nginx.pid'), 'utf8').trim());
    if (pid > 0) process.kill(pid, 'SIGTERM');
  };
  ctx.cleanup.push(() => stop().catch(() => undefined));
  return stop;
}

function replicaPort(ctx: BenchContext, model: string, version?: number): number {
  const store = ctx.berth.services.deployStore;
  const m = store.model(model);
  const v = version ? store.versionByNumber(m.id, version) : store.version(store.aliases(m.id).find((a) => a.alias === 'latest')!.version_id);
  const placement = store.placements(v.id).find((p) => p.serverId === ctx.serverIds[0])!;
  return placement.replicas[0].port;
}

export async function benchGateway(ctx: BenchContext, rows: Row[], trivialModel: string): Promise<void> {
  const models: Array<{ label: string; model: string; body: string }> = [{ label: 'trivial model', model: trivialModel, body: '{"inputs": [1, 2]}' }];
  if (ctx.sklearnModel) models.push({ label: 'sklearn fixture', model: ctx.sklearnModel, body: '{"inputs": [[5.1, 3.5, 1.4, 0.2]]}' });
  const ports = Object.fromEntries(models.map((m) => [m.model, replicaPort(ctx, m.model)]));
  const stopNginx = await startNginx(ctx, ports);
  const loads: Array<{ name: string; connections: number; delayMs: number }> = [
    // wrk's pacing adds the request's own time to each connection's cycle: a few more connections than rate × delay
    { name: '200 rps', connections: 11, delayMs: 50 },
    { name: '1000 rps', connections: 24, delayMs: 20 },
    { name: 'saturation', connections: 64, delayMs: 0 },
  ];
  try {
    for (const m of models) {
      const urls = {
        direct: `http://127.0.0.1:${ports[m.model]}/predict`,
        gateway: `http://127.0.0.1:8700/${m.model}/latest/predict`,
        nginx: `http://127.0.0.1:${NGINX_PORT}/${m.model}/predict`,
      };
      // warm up every path (connections, Python's first requests)
      for (const url of Object.values(urls)) await wrk(ctx, url, { connections: 4, seconds: 2, delayMs: 0, body: m.body });
      for (const load of loads) {
        const r: Record<string, WrkResult> = {};
        for (const [path, url] of Object.entries(urls)) {
          r[path] = await wrk(ctx, url, { connections: load.connections, seconds: SECONDS, delayMs: load.delayMs, body: m.body });
          console.log(`[bench] P3 ${m.label} ${load.name} ${path}: ${JSON.stringify(r[path])}`);
        }
        const errors = r.gateway.errors + r.gateway.non2xx;
        if (load.delayMs > 0) {
          const addP50 = r.gateway.p50Ms - r.direct.p50Ms;
          const addP99 = r.gateway.p99Ms - r.direct.p99Ms;
          const strict = load.name === '1000 rps';
          rows.push({
            id: 'P3',
            what: `gateway added latency, ${m.label}, ${load.name} (achieved ${Math.round(r.gateway.rps)} rps): p50 / p99`,
            measured: `${signed(addP50)} / ${signed(addP99)} ms`,
            baseline: `direct ${r.direct.p50Ms.toFixed(2)} / ${r.direct.p99Ms.toFixed(2)} ms; nginx ${signed(r.nginx.p50Ms - r.direct.p50Ms)} / ${signed(r.nginx.p99Ms - r.direct.p99Ms)} ms`,
            ratio: `nginx − gateway p99: ${(r.nginx.p99Ms - r.gateway.p99Ms).toFixed(2)} ms`,
            goal: strict ? 'p50 +≤0.5 ms, p99 +≤2 ms' : '—',
            met: strict ? addP50 <= 0.5 && addP99 <= 2 && errors === 0 : null,
            note: errors ? `${errors} failed requests through the gateway` : undefined,
            data: r,
          });
        } else {
          rows.push({
            id: 'P3',
            what: `max throughput, ${m.label} (64 connections, ${SECONDS} s)`,
            measured: `gateway ${Math.round(r.gateway.rps)} rps (p99 ${r.gateway.p99Ms.toFixed(1)} ms)`,
            baseline: `nginx ${Math.round(r.nginx.rps)} rps; direct ${Math.round(r.direct.rps)} rps`,
            ratio: `${(r.gateway.rps / r.nginx.rps).toFixed(2)}× nginx`,
            goal: '≥ nginx',
            met: r.gateway.rps >= r.nginx.rps * 0.98 && errors === 0,
            note: `within 2% counts as equal (run-to-run noise on a shared 2-core machine)${errors ? `; ${errors} failed requests through the gateway` : ''}`,
            data: r,
          });
        }
      }
    }
  } finally {
    await stopNginx().catch(() => undefined);
  }
}

const signed = (x: number) => `${x >= 0 ? '+' : '−'}${Math.abs(x).toFixed(2)}`;
