import { useCallback, useEffect, useRef, useState } from 'react';
import type { BerthError } from '../../../../shared/errors';
import { formatLogLine, formatSkipped, type LogSource, type LogTarget, type LogTargets } from '../../../../shared/logs';
import { call, subscribe } from '../../api/client';
import { EmptyState } from '../../components/EmptyState';
import { ErrorBanner } from '../../components/ErrorBanner';
import { Terminal, type TerminalHandle } from '../../components/Terminal';
import { panelColumns, wrapAtWords } from './wrap';

/** Lines held while paused; beyond this the oldest are dropped and counted. */
const PAUSE_BUFFER_LINES = 10_000;

interface Option {
  key: string;
  label: string;
  target: LogTarget;
}

function optionsOf(targets: LogTargets | undefined): Option[] {
  if (!targets) return [];
  const options: Option[] = targets.versions.map((v) => ({
    key: `model:${v.model}:${v.version}`,
    label: `${v.model} v${v.version}: all replicas (${v.serverIds.length} server${v.serverIds.length === 1 ? '' : 's'})`,
    target: { kind: 'model', model: v.model, version: v.version },
  }));
  for (const server of targets.servers) {
    options.push({ key: `server:${server.id}`, label: `${server.name}: every Berth container`, target: { kind: 'server', serverId: server.id } });
    for (const c of server.containers) {
      options.push({ key: `container:${server.id}:${c.name}`, label: `${server.name} / ${c.name} (${c.state})`, target: { kind: 'container', serverId: server.id, container: c.name } });
    }
  }
  return options;
}

/** Follows container logs in an xterm panel: target picker, pause/resume with a bounded buffer, search, clear. */
export function LiveLogs() {
  const [targets, setTargets] = useState<LogTargets>();
  const [choice, setChoice] = useState('');
  const [tail, setTail] = useState(200);
  const [following, setFollowing] = useState(false);
  const [paused, setPaused] = useState(false);
  const [held, setHeld] = useState(0);
  const [sources, setSources] = useState<LogSource[]>([]);
  const [query, setQuery] = useState('');
  const [found, setFound] = useState<boolean | null>(null);
  const [error, setError] = useState<BerthError>();
  const term = useRef<TerminalHandle>(null);
  const panel = useRef<HTMLDivElement>(null);
  const sourceMap = useRef(new Map<number, LogSource>());
  const pausedRef = useRef(false);
  const buffer = useRef<{ chunks: Array<{ text: string; lines: number }>; lines: number; dropped: number }>({ chunks: [], lines: 0, dropped: 0 });

  const loadTargets = useCallback(() => {
    call('logs.targets', {}).then(
      (t) => {
        setTargets(t);
        setChoice((current) => current || optionsOf(t)[0]?.key || '');
      },
      (err: BerthError) => setError(err),
    );
  }, []);
  useEffect(loadTargets, [loadTargets]);

  const options = optionsOf(targets);
  const selected = options.find((o) => o.key === choice);

  const hold = (text: string, lines: number) => {
    const b = buffer.current;
    b.chunks.push({ text, lines });
    b.lines += lines;
    while (b.lines > PAUSE_BUFFER_LINES && b.chunks.length > 1) {
      const dropped = b.chunks.shift()!;
      b.lines -= dropped.lines;
      b.dropped += dropped.lines;
    }
    setHeld(b.lines);
  };

  useEffect(() => {
    if (!following || !selected) return;
    sourceMap.current = new Map();
    const stop = subscribe(
      'logs.follow',
      { target: selected.target, tail },
      (event) => {
        if (event.type === 'sources') {
          for (const s of event.sources) sourceMap.current.set(s.id, s);
          setSources(event.sources);
          return;
        }
        let text = event.skipped ? formatSkipped(event.skipped) : '';
        for (const line of event.lines) text += formatLogLine(line, sourceMap.current.get(line.s));
        text = wrapAtWords(text, panelColumns(panel.current));
        if (pausedRef.current) hold(text, event.lines.length);
        else term.current?.write(text);
      },
      (err) => {
        setFollowing(false);
        if (err) setError(err);
      },
    );
    return stop;
    // The selected option object changes with every targets reload; its key is what matters.
  }, [following, selected?.key, tail]);

  const togglePause = () => {
    const next = !paused;
    pausedRef.current = next;
    setPaused(next);
    if (!next) {
      const b = buffer.current;
      if (b.dropped) term.current?.write(formatSkipped(b.dropped).replace('the viewer could not keep up', 'while paused'));
      for (const chunk of b.chunks) term.current?.write(chunk.text);
      buffer.current = { chunks: [], lines: 0, dropped: 0 };
      setHeld(0);
    }
  };

  const search = (direction: 'next' | 'previous') => setFound(query ? (term.current?.search(query, direction) ?? false) : null);

  if (targets && targets.servers.length === 0) {
    return (
      <EmptyState title="No logs to follow">
        <p>Once a version runs on your servers, follow its replicas live here and search every request it served.</p>
        <p>Register servers on the Servers page first.</p>
      </EmptyState>
    );
  }

  return (
    <section className="obs-live">
      <ErrorBanner error={error} onDismiss={() => setError(undefined)} />
      <div className="row obs-toolbar">
        <select aria-label="What to follow" data-testid="log-target" value={choice} onChange={(e) => setChoice(e.target.value)} disabled={following}>
          {options.length === 0 && <option value="">No Berth containers found</option>}
          {options.map((o) => (
            <option key={o.key} value={o.key}>
              {o.label}
            </option>
          ))}
        </select>
        <button className="link" onClick={loadTargets} disabled={following} title="List the containers again">
          ↻
        </button>
        <label className="row obs-inline">
          Last
          <input aria-label="Lines of history" className="obs-number" type="number" min={0} max={10000} value={tail} disabled={following}
            onChange={(e) => setTail(Math.max(0, Math.min(10_000, Number(e.target.value) || 0)))} />
          lines
        </label>
        {following ? (
          <button onClick={() => setFollowing(false)}>Stop</button>
        ) : (
          <button className="primary" onClick={() => setFollowing(true)} disabled={!selected}>
            Follow
          </button>
        )}
        <button onClick={togglePause} disabled={!following} aria-pressed={paused}>
          {paused ? `Resume${held ? ` (${held} held)` : ''}` : 'Pause'}
        </button>
        <button onClick={() => term.current?.clear()}>Clear</button>
        <span className="spacer" />
        <input aria-label="Search the log" placeholder="Search" value={query} onChange={(e) => (setQuery(e.target.value), setFound(null))}
          onKeyDown={(e) => e.key === 'Enter' && search(e.shiftKey ? 'previous' : 'next')} />
        <button onClick={() => search('previous')} aria-label="Previous match" disabled={!query}>↑</button>
        <button onClick={() => search('next')} aria-label="Next match" disabled={!query}>↓</button>
        {found === false && <span className="muted">not found</span>}
      </div>
      {following && (
        <ul className="obs-sources" data-testid="log-sources">
          {sources.map((s) => (
            <li key={s.id} className={`obs-source ${s.state}`} title={s.message ?? undefined}>
              {s.server}/{s.container} · {s.state}
              {s.message ? `: ${s.message}` : ''}
            </li>
          ))}
        </ul>
      )}
      <div ref={panel}>
        <Terminal ref={term} label="live-logs" rows={28} scrollback={20_000} />
      </div>
    </section>
  );
}
