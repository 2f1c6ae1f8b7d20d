import { useEffect, useRef } from 'react';
import uPlot, { type AlignedData, type Options } from 'uplot';
import 'uplot/dist/uPlot.min.css';
import type { InferenceStats } from '../../../../shared/logs';

const COLORS = ['#2463eb', '#12805c', '#b7791f', '#c0362c', '#7c3aed', '#0e7490', '#be185d', '#4d7c0f'];

interface ChartSpec {
  id: string;
  title: string;
  unit: string;
  series: Array<{ label: string; values: Array<number | null>; color: string; dash?: number[] }>;
}

/** Aligns every version's points on one time axis (uPlot wants shared x values). */
function align(stats: InferenceStats): { xs: number[]; at: (points: InferenceStats['series'][number]['points']) => Map<number, (typeof points)[number]> } {
  const xs: number[] = [];
  for (let t = stats.from; t <= stats.to; t += stats.bucketMs) xs.push(t / 1000);
  return { xs, at: (points) => new Map(points.map((p) => [p.t / 1000, p])) };
}

export function chartSpecs(stats: InferenceStats): { xs: number[]; charts: ChartSpec[] } {
  const { xs, at } = align(stats);
  const perMinute = 60_000 / stats.bucketMs;
  const rate: ChartSpec = { id: 'rate', title: 'Requests per minute', unit: 'req/min', series: [] };
  const errors: ChartSpec = { id: 'errors', title: 'Error rate', unit: '%', series: [] };
  const latency: ChartSpec = { id: 'latency', title: 'Latency p50 / p95 / p99', unit: 'ms', series: [] };
  stats.series.forEach((s, i) => {
    const color = COLORS[i % COLORS.length];
    const byT = at(s.points);
    const name = `${s.model} v${s.version}`;
    rate.series.push({ label: name, color, values: xs.map((x) => (byT.get(x)?.requests ?? 0) * perMinute) });
    errors.series.push({ label: name, color, values: xs.map((x) => { const p = byT.get(x); return p && p.requests ? (100 * p.errors) / p.requests : null; }) });
    latency.series.push({ label: `${name} p50`, color, values: xs.map((x) => byT.get(x)?.p50 ?? null) });
    latency.series.push({ label: `${name} p95`, color, dash: [6, 4], values: xs.map((x) => byT.get(x)?.p95 ?? null) });
    latency.series.push({ label: `${name} p99`, color, dash: [2, 3], values: xs.map((x) => byT.get(x)?.p99 ?? null) });
  });
  return { xs, charts: [rate, errors, latency] };
}

/** One uPlot chart (canvas, no eval: fine under the app's CSP), resized with its container and destroyed on unmount. */
function Chart({ spec, xs }: { spec: ChartSpec; xs: number[] }) {
  const host = useRef<HTMLDivElement>(null);
  useEffect(() => {
    const el = host.current!;
    const options: Options = {
      width: Math.max(300, el.clientWidth),
      height: 180,
      legend: { show: true },
      scales: { x: { time: true } },
      axes: [{ stroke: '#667085' }, { stroke: '#667085', label: spec.unit, size: 60 }],
      series: [{}, ...spec.series.map((s) => ({ label: s.label, stroke: s.color, width: 1.5, dash: s.dash, spanGaps: false }))],
    };
    const data = [xs, ...spec.series.map((s) => s.values)] as AlignedData;
    const plot = new uPlot(options, data, el);
    const observer = new ResizeObserver(() => plot.setSize({ width: Math.max(300, el.clientWidth), height: 180 }));
    observer.observe(el);
    return () => {
      observer.disconnect();
      plot.destroy();
    };
  }, [spec, xs]);
  return (
    <figure className="obs-chart" data-testid={`chart-${spec.id}`}>
      <figcaption>{spec.title}</figcaption>
      <div ref={host} />
    </figure>
  );
}

export function Charts({ stats }: { stats: InferenceStats }) {
  if (stats.series.length === 0) return <p className="muted">No requests in this range to chart.</p>;
  const { xs, charts } = chartSpecs(stats);
  return (
    <div className="obs-charts">
      {charts.map((c) => (
        <Chart key={c.title} spec={c} xs={xs} />
      ))}
    </div>
  );
}
